//go:build linux

package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lvslab/lvslab/bench"
	"github.com/lvslab/lvslab/topology"
	"github.com/lvslab/lvslab/vm"
)

func init() {
	register(&command{
		name: "failover",
		summary: "Fail a keepalived director pair over again and again under constant load, with and without the IPVS sync daemon;\n" +
			"takeover time, failed requests, surviving connections and requests/s around each failover into failover.json/.txt/.svg/.png.",
		usage: "failover [--kinds crash,term] [--rounds 10] [--sync on,off] [--mode nat|dr|tun] [--rate 50] [--kept 20] " +
			"[--before 2s] [--after 6s] [--where auto|host|vm] [--kernel K] [--out DIR]",
		root: true,
		run:  runFailover,
	})
}

func runFailover(ctx context.Context, fs *flag.FlagSet, args []string) error {
	kinds := fs.String("kinds", "crash,term", "how each round fails the master: crash (every keepalived process stopped and killed, links down), term (SIGTERM), backlink (its link to the real servers down)")
	rounds := fs.Int("rounds", 10, "failovers of each kind and sync setting")
	syncs := fs.String("sync", "on,off", "sync daemon settings to measure: on, off or both")
	mode := fs.String("mode", "nat", "forwarding method: nat, dr or tun")
	rate := fs.Float64("rate", 50, "open-loop load, requests/s (one new connection each)")
	kept := fs.Int("kept", 20, "long-lived connections held across each failover")
	before := fs.Duration("before", 2*time.Second, "window before each fault in the figure")
	after := fs.Duration("after", 6*time.Second, "window after each fault: the takeover must happen within it")
	name := fs.String("name", "failover", "the lab's name")
	where := fs.String("where", vm.WhereAuto, "auto (this host if its kernel has ip_vs, else the VM), host or vm")
	kernel := fs.String("kernel", "", "kernel of the shipped list for the VM (default: the list's default)")
	out := fs.String("out", "results/failover", "output `folder`")
	cpus := fs.Int("vm-cpus", 0, "the VM's CPUs (default 2; real time: VRRP's timers are what is measured)")
	timeout := fs.Duration("vm-timeout", time.Hour, "kill the VM after this long")
	configFile := fs.String("config", "", "") // how the VM hands the guest its configuration
	if err := parse(find("failover"), fs, args, false); err != nil {
		return err
	}
	var cfg bench.FailoverConfig
	if *configFile != "" {
		c, err := bench.ReadFailoverConfig(*configFile)
		if err != nil {
			return usageError{err}
		}
		cfg = c
	} else {
		cfg = bench.FailoverConfig{Name: *name, Mode: topology.Mode(*mode), Rounds: *rounds, Rate: *rate, Kept: *kept, Before: bench.Seconds(*before), After: bench.Seconds(*after)}
		for _, k := range strings.Split(*kinds, ",") {
			cfg.Kinds = append(cfg.Kinds, strings.TrimSpace(k))
		}
		for _, s := range strings.Split(*syncs, ",") {
			switch strings.TrimSpace(s) {
			case "on":
				cfg.Sync = append(cfg.Sync, true)
			case "off":
				cfg.Sync = append(cfg.Sync, false)
			default:
				return usageError{fmt.Errorf("--sync %q: use on, off or on,off", *syncs)}
			}
		}
		if err := cfg.Validate(); err != nil {
			return usageError{err}
		}
	}
	dir, err := filepath.Abs(*out)
	if err != nil {
		return err
	}
	if err := bench.CheckOutDir(dir); err != nil {
		return usageError{fmt.Errorf("--out: %w", err)}
	}
	var res *bench.FailoverResult
	if *configFile != "" {
		// The guest's half of a run the host placed in the VM.
		res, err = failoverHere(ctx, cfg, dir)
	} else {
		res, err = failoverPlaced(ctx, cfg, dir, *where, bench.VMOptions{Kernel: *kernel, CPUs: *cpus, Timeout: *timeout})
	}
	if err != nil {
		return benchError(ctx, err)
	}
	fmt.Println()
	if err := res.WriteTable(os.Stdout); err != nil {
		return err
	}
	fmt.Printf("\nfigure: %s\nrounds: %s\n", filepath.Join(dir, bench.FailoverPNG), filepath.Join(dir, bench.FailoverJSON))
	return nil
}

// failoverPlaced runs the benchmark where --where places it.
func failoverPlaced(ctx context.Context, cfg bench.FailoverConfig, out, where string, o bench.VMOptions) (*bench.FailoverResult, error) {
	inVM, o, err := bench.PlaceFailover(where, o)
	if err != nil {
		return nil, usageError{err}
	}
	if !inVM {
		return failoverHere(ctx, cfg, out)
	}
	if o, err = guestRuns("failover", o); err != nil {
		return nil, err
	}
	return bench.RunFailoverInVM(ctx, cfg, out, o)
}

// failoverHere runs the benchmark on this kernel and writes its files.
func failoverHere(ctx context.Context, cfg bench.FailoverConfig, out string) (*bench.FailoverResult, error) {
	p := bench.NewProgress("failover", onTerminal())
	cfg.Progress = func(s bench.FailoverStep) { p.Step(s.Done, s.Total, -1, 0, s.String()) }
	res, err := bench.RunFailover(ctx, cfg)
	p.Finish()
	if err != nil {
		return nil, err
	}
	res.Env.Version = version()
	return res, res.WriteFiles(out)
}
