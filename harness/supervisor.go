package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/lvslab/lvslab/topology"
)

const controlSocket = "control.sock"

// Supervise serves the real servers of a lab that is already up (built by
// "lvslab up" in another process) until ctx ends, and answers the control
// socket in the lab's state directory. ready is called once serving.
func Supervise(ctx context.Context, name string, cfg ServerConfig, ready func()) error {
	t, err := topology.Open(name)
	if err != nil {
		return err
	}
	defer t.Detach()
	lab, err := Serve(t, cfg)
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
	mux.HandleFunc("POST /servers/{name}/{action}", func(w http.ResponseWriter, r *http.Request) {
		s := lab.Server(r.PathValue("name"))
		if s == nil {
			http.Error(w, "no real server named "+r.PathValue("name"), http.StatusNotFound)
			return
		}
		var err error
		switch r.PathValue("action") {
		case "start":
			err = s.Start()
		case "stop":
			err = s.Stop()
		default:
			http.Error(w, "action must be start or stop", http.StatusBadRequest)
			return
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	srv := &http.Server{Handler: mux}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if ready != nil {
		ready()
	}
	if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("control socket: %w", err)
	}
	return nil
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

// SetServer stops or starts one real server.
func (r *Remote) SetServer(ctx context.Context, name string, up bool) error {
	action := "stop"
	if up {
		action = "start"
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://lab/servers/"+name+"/"+action, nil)
	resp, err := r.client.Do(req)
	if err != nil {
		return fmt.Errorf("ask the supervisor of lab %s: %w", r.lab, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var msg [512]byte
		n, _ := resp.Body.Read(msg[:])
		return fmt.Errorf("%s %s: %s", action, name, msg[:n])
	}
	return nil
}
