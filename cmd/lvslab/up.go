//go:build linux

package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/lvslab/lvslab/harness"
	"github.com/lvslab/lvslab/harness/keepalived"
	"github.com/lvslab/lvslab/topology"
)

func init() {
	register(&command{
		name:    "up",
		summary: "Build a lab and leave it running: namespaces, bridges, addresses, routes, and a real server in each real-server node.",
		usage: "up [-f FILE | --topology paper|small|paper-ha] [--name N] [--mode direct|routed|nat|dr|tun] [--scheduler rr] [--body-size B] [--service-time D]\n" +
			"   [--isolate] [--switch static|learning] [--ageing-time D] [--sync] [--nopreempt] [--json]",
		root: true,
		run:  runUp,
	})
	register(&command{
		name:    harness.SupervisorCommand,
		summary: "Run the real servers of a lab, and its director pair's keepalived (started by lvslab up and bench; not for direct use).",
		usage:   harness.SupervisorCommand + " --name N",
		hidden:  true,
		root:    true,
		run:     runSupervise,
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
	c := harness.ServerConfig{BodySize: s.bodySize, ServiceTime: s.serviceTime}
	if err := c.Validate(); err != nil {
		return c, usageError{err}
	}
	return c, nil
}

func runUp(ctx context.Context, fs *flag.FlagSet, args []string) error {
	var tf topologyFlags
	var sf serverFlags
	tf.register(fs)
	sf.register(fs)
	asJSON := fs.Bool("json", false, "print the lab as JSON")
	scheduler := fs.String("scheduler", "rr", "IPVS scheduler of the VIP's services (rr, wrr, lc, wlc, sh, mh, …)")
	var mf machineFlags
	mf.register(fs)
	sync := fs.Bool("sync", false, "director pair (--topology paper-ha): run the IPVS sync daemon under keepalived")
	nopreempt := fs.Bool("nopreempt", false, "director pair: a restarted director does not take the VIP back")
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
	if spec, err = mf.apply(fs, spec); err != nil {
		return err
	}
	pair := keepalived.Options{Scheduler: *scheduler, Sync: *sync, NoPreempt: *nopreempt}
	if spec.IsHA() && !spec.Mode.Balanced() {
		return usageError{fmt.Errorf("a director pair runs keepalived for a virtual service: give --mode nat, dr or tun")}
	}
	if (*sync || *nopreempt) && !spec.IsHA() {
		return usageError{errors.New("--sync and --nopreempt are for a director pair: use --topology paper-ha")}
	}
	start := time.Now()
	lab, err := topology.Build(ctx, spec)
	if err != nil {
		return err
	}
	if spec.IsHA() {
		// The supervisor runs keepalived beside the real servers.
		if err := keepalived.SaveOptions(spec.Name, pair); err != nil {
			return errors.Join(err, lab.Close())
		}
	}
	if err := harness.StartSupervisor(ctx, spec.Name, cfg); err != nil {
		return errors.Join(err, lab.Close())
	}
	var master string
	if spec.IsHA() {
		wait, cancel := context.WithTimeout(ctx, time.Minute)
		m, err := keepalived.WaitMaster(wait, lab)
		cancel()
		if err != nil {
			log, _ := os.ReadFile(topology.StateFile(spec.Name, "supervisor.log"))
			return errors.Join(fmt.Errorf("%w; the supervisor's log: %s", err, strings.TrimSpace(string(log))), lab.Close())
		}
		master = m.Name
	} else if spec.Mode.Balanced() {
		d, err := harness.StartDirector(lab, harness.DirectorOptions{Scheduler: *scheduler})
		if err != nil {
			return errors.Join(err, lab.Close())
		}
		d.Close()
	}
	notes, err := lab.PinStations()
	if err != nil {
		return errors.Join(err, lab.Close())
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
	fmt.Printf("\nswitch: %s\n", spec.Switch)
	for _, st := range topology.Stations(spec) {
		fmt.Printf("station %s: cpus %s (%s)\n", st.Name, st.CPUs, strings.Join(st.Nodes, " "))
	}
	for _, n := range notes {
		fmt.Println("note: " + n)
	}
	if master != "" {
		fmt.Printf("\nkeepalived runs in both directors; %s is the VRRP master and holds the VIP (lvslab status --name %s --ha)\n", master, spec.Name)
	}
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

func runSupervise(ctx context.Context, fs *flag.FlagSet, args []string) error {
	var sf serverFlags
	sf.register(fs)
	name := fs.String("name", "", "lab name")
	if err := parse(find(harness.SupervisorCommand), fs, args, false); err != nil {
		return err
	}
	cfg, err := sf.config()
	if err != nil {
		return err
	}
	if *name == "" {
		return usageError{errors.New("--name is required")}
	}
	if err := topology.CheckLabName(*name); err != nil {
		return usageError{fmt.Errorf("--name: %w", err)}
	}
	return harness.Supervise(ctx, *name, cfg, nil, keepalived.RunSaved)
}

// machineFlags are how up places the lab on this machine's CPUs and how
// its bridges forward.
type machineFlags struct {
	isolate    bool
	switchMode string
	ageing     time.Duration
}

func (m *machineFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&m.isolate, "isolate", false, "give each station CPUs of its own (client, director, router, real servers; at least 3 CPUs):\nprocesses pinned, receive processing steered there with RPS, IPVS's estimator placed")
	fs.StringVar(&m.switchMode, "switch", "static", "static (a forwarding entry for every node's link: no flooding) or learning (a real switch's\nbehaviour: a port that never sends is flooded once its address ages out)")
	fs.DurationVar(&m.ageing, "ageing-time", 0, "the bridges' ageing time (0: the kernel's 300s)")
}

// apply returns the planned spec with the machine flags given applied (a
// topology file's own switch settings stand unless a flag overrides them).
func (m *machineFlags) apply(fs *flag.FlagSet, spec *topology.Spec) (*topology.Spec, error) {
	switch m.switchMode {
	case "static", "learning":
	default:
		return nil, usageError{fmt.Errorf("--switch %q: use static or learning", m.switchMode)}
	}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "switch":
			spec.Switch.Learning = m.switchMode == "learning"
		case "ageing-time":
			spec.Switch.AgeingTime = m.ageing
		}
	})
	if m.isolate {
		cpus, err := topology.OnlineCPUs()
		if err != nil {
			return nil, err
		}
		if err := topology.Isolate(spec, cpus); err != nil {
			return nil, usageError{fmt.Errorf("--isolate: %w", err)}
		}
	}
	p, err := topology.Plan(spec)
	if err != nil {
		return nil, usageError{err}
	}
	return p, nil
}
