//go:build linux

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
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

func runUp(ctx context.Context, fs *flag.FlagSet, args []string) error {
	var tf topology.SpecFlags
	var sf harness.ServerFlags
	tf.Register(fs)
	sf.Register(fs)
	asJSON := fs.Bool("json", false, "print the lab as JSON")
	scheduler := fs.String("scheduler", "rr", "IPVS scheduler of the VIP's services (rr, wrr, lc, wlc, sh, mh, …)")
	sync := fs.Bool("sync", false, "director pair (--topology paper-ha): run the IPVS sync daemon under keepalived")
	nopreempt := fs.Bool("nopreempt", false, "director pair: a restarted director does not take the VIP back")
	if err := parse(find("up"), fs, args, false); err != nil {
		return err
	}
	if err := harness.CheckScheduler(*scheduler); err != nil {
		return usageError{fmt.Errorf("--scheduler: %w", err)}
	}
	cfg, err := sf.Config()
	if err != nil {
		return usageError{err}
	}
	spec, err := tf.Spec(fs)
	if fe := (*topology.FlagError)(nil); errors.As(err, &fe) {
		return usageError{fe}
	} else if err != nil {
		return err
	}
	o := harness.UpOptions{Servers: cfg, Supervise: true, Director: harness.DirectorOptions{Scheduler: *scheduler}}
	if spec.IsHA() {
		o.Pair = keepalived.Options{Scheduler: *scheduler, Sync: *sync, NoPreempt: *nopreempt}
	} else if *sync || *nopreempt {
		return usageError{errors.New("--sync and --nopreempt are for a director pair: use --topology paper-ha")}
	}
	if err := o.Check(spec); err != nil {
		return usageError{err}
	}
	start := time.Now()
	lab, err := harness.Up(ctx, spec, o)
	if err != nil {
		return err
	}
	lab.Detach()
	took := time.Since(start)
	if *asJSON {
		return printJSON(spec)
	}
	return harness.WriteUpSummary(os.Stdout, spec, lab, cfg, took)
}

func runSupervise(ctx context.Context, fs *flag.FlagSet, args []string) error {
	var sf harness.ServerFlags
	sf.Register(fs)
	name := fs.String("name", "", "lab name")
	if err := parse(find(harness.SupervisorCommand), fs, args, false); err != nil {
		return err
	}
	cfg, err := sf.Config()
	if err != nil {
		return usageError{err}
	}
	if *name == "" {
		return usageError{errors.New("--name is required")}
	}
	if err := topology.CheckLabName(*name); err != nil {
		return usageError{fmt.Errorf("--name: %w", err)}
	}
	return harness.Supervise(ctx, *name, cfg, nil, keepalived.RunSaved)
}
