package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/lvslab/lvslab/harness"
	"github.com/lvslab/lvslab/topology"
)

func init() {
	register(&command{
		name:    "up",
		summary: "Build a lab and leave it running: namespaces, bridges, addresses, routes, and a real server in each real-server node.",
		usage:   "up [-f FILE | --topology paper|small] [--name N] [--mode direct|routed|nat|dr|tun] [--scheduler rr] [--body-size B] [--service-time D] [--json]",
		root:    true,
		run:     runUp,
	})
	register(&command{
		name:    "serve",
		summary: "Serve the real servers of a lab (started by lvslab up; not for direct use).",
		usage:   "serve --name N",
		hidden:  true,
		root:    true,
		run:     runServe,
	})
}

type serverFlags struct {
	bodySize    int
	serviceTime time.Duration
}

func (s *serverFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&s.bodySize, "body-size", harness.DefaultServerConfig.BodySize, "response body size in `bytes`")
	fs.DurationVar(&s.serviceTime, "service-time", 0, "time each request takes on a real server (emulates load)")
}

func (s *serverFlags) config() (harness.ServerConfig, error) {
	if s.bodySize < 0 || s.bodySize > 64<<20 {
		return harness.ServerConfig{}, usageError{fmt.Errorf("--body-size %d: use 0 to 67108864", s.bodySize)}
	}
	if s.serviceTime < 0 || s.serviceTime > time.Minute {
		return harness.ServerConfig{}, usageError{fmt.Errorf("--service-time %s: use 0 to 1m", s.serviceTime)}
	}
	return harness.ServerConfig{BodySize: s.bodySize, ServiceTime: s.serviceTime}, nil
}

func runUp(ctx context.Context, fs *flag.FlagSet, args []string) error {
	var tf topologyFlags
	var sf serverFlags
	tf.register(fs)
	sf.register(fs)
	asJSON := fs.Bool("json", false, "print the lab as JSON")
	scheduler := fs.String("scheduler", "rr", "IPVS scheduler of the VIP's services (rr, wrr, lc, wlc, sh, mh, …)")
	if err := parse(find("up"), fs, args, false); err != nil {
		return err
	}
	cfg, err := sf.config()
	if err != nil {
		return err
	}
	spec, err := tf.spec()
	if err != nil {
		return err
	}
	start := time.Now()
	lab, err := topology.Build(ctx, spec)
	if err != nil {
		return err
	}
	if err := startSupervisor(ctx, spec.Name, sf); err != nil {
		return errors.Join(err, lab.Close())
	}
	if spec.Mode == topology.ModeRouted {
		if err := harness.Wire(lab, spec.Mode); err != nil {
			return errors.Join(err, lab.Close())
		}
	}
	if spec.Mode.Balanced() {
		if err := startDirector(lab, spec.Mode, *scheduler); err != nil {
			return errors.Join(err, lab.Close())
		}
	}
	lab.Detach()
	took := time.Since(start)
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(spec)
	}
	fmt.Printf("lab %s is up (%s, %d nodes, mode %s, real servers answer on port %d, took %s)\n\n",
		spec.Name, cfgString(cfg), len(spec.Nodes), spec.Mode, spec.VIP.Port, took.Round(time.Millisecond))
	printNodes(os.Stdout, spec)
	client := spec.ByRole(topology.RoleClient)[0]
	fmt.Printf("\nenter a node:   sudo ip netns exec lvs-%s-%s bash\n", spec.Name, client.Name)
	target := "direct"
	if spec.Mode.Balanced() {
		target = "vip"
	}
	fmt.Printf("load it:        sudo lvslab load --name %s --target %s --clients 16 --duration 10s\n", spec.Name, target)
	fmt.Printf("tear it down:   sudo lvslab down --name %s\n", spec.Name)
	return nil
}

// startDirector wires the lab for an LVS mode, creates the VIP's services
// and checks the result before the lab is handed over.
func startDirector(lab *topology.Lab, mode topology.Mode, scheduler string) error {
	if err := harness.Wire(lab, mode); err != nil {
		return err
	}
	d, err := harness.OpenDirector(lab)
	if err != nil {
		return err
	}
	defer d.Close()
	if _, err := harness.ServeVIP(d, lab, mode, scheduler); err != nil {
		return err
	}
	if err := harness.Verify(lab, mode); err != nil {
		return fmt.Errorf("the lab is not wired for %s:\n%w", mode, err)
	}
	return nil
}

func cfgString(c harness.ServerConfig) string {
	s := fmt.Sprintf("%d-byte bodies", c.BodySize)
	if c.ServiceTime > 0 {
		s += ", " + c.ServiceTime.String() + " service time"
	}
	return s
}

func printNodes(w io.Writer, spec *topology.Spec) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tROLE\tNAMESPACE\tADDRESSES")
	for _, n := range spec.Nodes {
		var addrs []string
		for _, l := range n.Links {
			for _, a := range l.IPv4 {
				addrs = append(addrs, l.Segment+":"+a.String())
			}
			for _, a := range l.IPv6 {
				addrs = append(addrs, l.Segment+":"+a.String())
			}
		}
		fmt.Fprintf(tw, "%s\t%s\tlvs-%s-%s\t%s\n", n.Name, n.Role, spec.Name, n.Name, strings.Join(addrs, " "))
	}
	fmt.Fprintf(tw, "vip\t\t\t%s %s port %d\n", spec.VIP.IPv4, spec.VIP.IPv6, spec.VIP.Port)
	tw.Flush()
}

// startSupervisor starts "lvslab serve" in its own session so the real
// servers outlive this command, records it in the lab's state and waits
// until it answers.
func startSupervisor(ctx context.Context, lab string, sf serverFlags) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own binary: %w", err)
	}
	logPath := topology.StateFile(lab, "serve.log")
	log, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("create %s: %w", logPath, err)
	}
	defer log.Close()
	cmd := exec.Command(self, "serve", "--name", lab,
		"--body-size", fmt.Sprint(sf.bodySize), "--service-time", sf.serviceTime.String())
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the real servers' supervisor: %w", err)
	}
	if err := topology.RecordProcess(lab, cmd.Process.Pid, "supervisor"); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	remote := harness.Connect(lab)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := remote.Counters(ctx); err == nil {
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

func runServe(ctx context.Context, fs *flag.FlagSet, args []string) error {
	var sf serverFlags
	sf.register(fs)
	name := fs.String("name", "", "lab name")
	if err := parse(find("serve"), fs, args, false); err != nil {
		return err
	}
	cfg, err := sf.config()
	if err != nil {
		return err
	}
	if *name == "" {
		return usageError{errors.New("--name is required")}
	}
	return harness.Supervise(ctx, *name, cfg, nil)
}
