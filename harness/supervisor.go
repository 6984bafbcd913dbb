//go:build linux

package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/lvslab/lvslab/topology"
)

const controlSocket = "control.sock"

// Supervised is what a supervisor runs beside the real servers (a
// director pair's keepalived, package keepalived): it starts, returns a
// channel closed once it stopped again after ctx ended, and calls stop if
// it cannot go on, which ends the supervisor. An error ends it at once.
type Supervised func(ctx context.Context, lab *topology.Lab, stop func()) (done <-chan struct{}, err error)

// Supervise runs the real servers of a lab that is already up (built by
// another process) until ctx ends, and answers the control socket in the
// lab's state directory; it also runs each of also for as long. ready is
// called once all serve. It is the body of the supervisor process
// StartSupervisor starts.
func Supervise(ctx context.Context, name string, cfg ServerConfig, ready func(), also ...Supervised) error {
	// Recorded before anything else, by itself: whatever happens to the
	// command that started it, removing the lab stops it.
	if err := topology.RecordProcess(name, os.Getpid(), "supervisor"); err != nil {
		return err
	}
	t, err := topology.Open(name)
	if err != nil {
		return err
	}
	defer t.Detach()
	lab, err := StartServers(t, cfg)
	if err != nil {
		return err
	}
	defer lab.stopServers()

	path := topology.StateFile(name, controlSocket)
	os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("open control socket %s: %w", path, err)
	}
	defer os.Remove(path)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /counters", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(lab.Counters())
	})
	srv := &http.Server{Handler: mux}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	var running []<-chan struct{}
	defer func() {
		stop()
		for _, done := range running {
			<-done
		}
	}()
	for _, run := range also {
		done, err := run(ctx, t, stop)
		if err != nil {
			return err
		}
		running = append(running, done)
	}
	if ready != nil {
		ready()
	}
	if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("control socket: %w", err)
	}
	return nil
}

// SupervisorCommand is the subcommand of the lvslab binary that runs
// Supervise: StartSupervisor runs "<lvslab> supervise --name LAB …".
const SupervisorCommand = "supervise"

// StartSupervisor starts a supervisor process for a built lab: the lvslab
// binary running Supervise in its own session, so that the real servers
// outlive the calling command and their CPU is not the caller's. It
// records itself in the lab's state, so removing the lab stops it even if
// the caller is killed before this returns; this returns once it answers
// and is recorded.
func StartSupervisor(ctx context.Context, lab string, cfg ServerConfig) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own binary: %w", err)
	}
	logPath := topology.StateFile(lab, "supervisor.log")
	log, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("create %s: %w", logPath, err)
	}
	defer log.Close()
	cmd := exec.Command(self, SupervisorCommand, "--name", lab,
		"--body-size", strconv.Itoa(cfg.BodySize), "--service-time", cfg.ServiceTime.String())
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	topology.MarkCommand(cmd, lab)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the real servers' supervisor: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	remote := Connect(lab)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := remote.Counters(ctx); err == nil {
			if !slices.ContainsFunc(topology.Processes(lab), func(p topology.Process) bool { return p.PID == cmd.Process.Pid }) {
				cmd.Process.Kill()
				return fmt.Errorf("the real servers' supervisor (pid %d) answers but is not recorded in lab %s's state", cmd.Process.Pid, lab)
			}
			cmd.Process.Release()
			return nil
		}
		select {
		case err := <-exited:
			msg, _ := os.ReadFile(logPath)
			return fmt.Errorf("the real servers' supervisor exited (%v): %s", err, strings.TrimSpace(string(msg)))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errors.New("the real servers' supervisor did not answer within 10s (see " + logPath + ")")
		}
	}
}

// Remote talks to the supervisor of a lab brought up by "lvslab up".
type Remote struct {
	lab    string
	client *http.Client
}

// Connect returns a client for the lab's supervisor.
func Connect(lab string) *Remote {
	path := topology.StateFile(lab, controlSocket)
	return &Remote{lab: lab, client: &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}},
	}}
}

// Counters returns the real servers' counters.
func (r *Remote) Counters(ctx context.Context) (map[string]Counters, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://lab/counters", nil)
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("ask the supervisor of lab %s: %w", r.lab, err)
	}
	defer resp.Body.Close()
	var out map[string]Counters
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("read counters of lab %s: %w", r.lab, err)
	}
	return out, nil
}
