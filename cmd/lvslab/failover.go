//go:build linux

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/lvslab/lvslab/bench"
	"github.com/lvslab/lvslab/harness"
	"github.com/lvslab/lvslab/topology"
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
	where := fs.String("where", bench.WhereAuto, "auto (this host if its kernel has ip_vs, else the VM), host or vm")
	kernel := fs.String("kernel", "", "kernel of the shipped list for the VM (default: the list's default)")
	out := fs.String("out", "results/failover", "output `folder`")
	cpus := fs.Int("vm-cpus", 2, "the VM's CPUs (real time: VRRP's timers are what is measured)")
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
		if *cpus < 1 || *cpus > 64 || *timeout <= 0 {
			return usageError{errors.New("--vm-cpus must be 1-64 and --vm-timeout positive")}
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
	inVM := false
	switch *where {
	case bench.WhereHost:
	case bench.WhereVM:
		inVM = true
	case bench.WhereAuto:
		if harness.CheckIPVS() != nil {
			if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
				return errors.New("this kernel has no ip_vs and QEMU is not installed: install qemu-system-x86 (make deps does)")
			}
			inVM = true
		}
	default:
		return usageError{fmt.Errorf("--where %q: use auto, host or vm", *where)}
	}
	var res *bench.FailoverResult
	if inVM {
		res, err = failoverInVM(ctx, cfg, dir, *kernel, *cpus, *timeout)
	} else {
		res, err = failoverHere(ctx, cfg, dir)
	}
	if err != nil {
		return err
	}
	fmt.Println()
	if err := res.WriteTable(os.Stdout); err != nil {
		return err
	}
	fmt.Printf("\nfigure: %s\nrounds: %s\n", filepath.Join(dir, bench.FailoverPNG), filepath.Join(dir, bench.FailoverJSON))
	return nil
}

// failoverHere runs the benchmark on this kernel and writes its files.
func failoverHere(ctx context.Context, cfg bench.FailoverConfig, out string) (*bench.FailoverResult, error) {
	p := newProgress("failover")
	cfg.Progress = func(s bench.FailoverStep) {
		p.step(s.Done, s.Total, -1, 0, fmt.Sprintf("%s, sync %s, round %d", s.Kind, map[bool]string{true: "on", false: "off"}[s.Sync], s.Round))
	}
	res, err := bench.RunFailover(ctx, cfg)
	p.finish()
	if err != nil {
		if ctx.Err() != nil {
			return nil, exitError{code: exitInterrupted, msg: "interrupted: the lab was removed"}
		}
		return nil, err
	}
	res.Env.Version = version()
	return res, res.WriteFiles(out)
}

// failoverInVM runs this same command inside the VM, in real time.
func failoverInVM(ctx context.Context, cfg bench.FailoverConfig, out, kernel string, cpus int, timeout time.Duration) (*bench.FailoverResult, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	res, err := bench.RunFailoverInVM(ctx, cfg, out, bench.VMOptions{
		Kernel: kernel, CPUs: cpus, Timeout: timeout,
		Command: func(configFile, out string) []string {
			return []string{self, "failover", "--where", bench.WhereHost, "--config", configFile, "--out", out}
		},
		Console: os.Stderr,
		Log:     func(s string) { fmt.Fprintln(os.Stderr, "lvslab failover: "+s) },
	})
	var ge *bench.GuestError
	if errors.As(err, &ge) {
		return nil, exitError{code: ge.Code, msg: ge.Error()}
	}
	return res, err
}
