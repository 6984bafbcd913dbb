package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"time"

	"github.com/lvslab/lvslab/loadgen"
	"github.com/lvslab/lvslab/topology"
)

func init() {
	register(&command{
		name:    "load",
		summary: "Send HTTP load from the client namespace of a lab that is up, and report throughput, latency, errors and per-server counts.",
		usage:   "load [--name N] --target direct|vip|rsN [--clients C] [--duration D] [--requests R] [--rate R] [--keepalive] [--ipv6] [--json]",
		root:    true,
		run:     runLoad,
	})
}

func runLoad(ctx context.Context, fs *flag.FlagSet, args []string) error {
	name := fs.String("name", "", "lab to load (default: the only lab up)")
	target := fs.String("target", "direct", "direct (every real server, round-robin), vip, or one real server (rs3)")
	clients := fs.Int("clients", 16, "concurrent clients (closed loop), or most requests in flight (open loop)")
	duration := fs.Duration("duration", 10*time.Second, "how long to load")
	requests := fs.Int64("requests", 0, "stop after this many requests (0: only the duration bounds the run)")
	rate := fs.Float64("rate", 0, "open loop at this many requests/s (0: closed loop)")
	keepalive := fs.Bool("keepalive", false, "reuse connections (default: one new TCP connection per request, as WebBench)")
	v6 := fs.Bool("ipv6", false, "use IPv6 addresses")
	timeout := fs.Duration("timeout", 5*time.Second, "per-request timeout, connect included")
	path := fs.String("path", "/", "request path (e.g. /?size=65536)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	cpuProfile := fs.String("cpuprofile", "", "write the load generator's CPU profile to `file` (go tool pprof)")
	procs := fs.Int("procs", 0, "CPUs the load generator may use at once (GOMAXPROCS; 0: all). With keep-alive on a small\nmachine, 1 leaves more to the lab: its goroutines then wake each other without crossing threads")
	if err := parse(find("load"), fs, args, false); err != nil {
		return err
	}
	if *procs < 0 {
		return usageError{errors.New("--procs must not be negative")}
	}
	if *procs > 0 {
		runtime.GOMAXPROCS(*procs)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if *clients < 1 || *clients > loadgen.MaxClients {
		return usageError{fmt.Errorf("--clients %d: use 1 to %d", *clients, loadgen.MaxClients)}
	}
	if *duration <= 0 || *duration > loadgen.MaxDuration {
		return usageError{fmt.Errorf("--duration %s: use a positive duration up to %s", *duration, loadgen.MaxDuration)}
	}
	if *requests < 0 || *rate < 0 || *timeout <= 0 {
		return usageError{errors.New("--requests, --rate and --timeout must not be negative")}
	}
	lab, err := labName(*name)
	if err != nil {
		return err
	}
	// No down or up of this lab while it is loaded.
	release, err := topology.Use(lab)
	if err != nil {
		return err
	}
	defer release()
	t, err := topology.Open(lab)
	if err != nil {
		return err
	}
	defer t.Detach()
	cfg, err := loadgen.ForLab(t, *target, *v6)
	if err != nil {
		return usageError{err}
	}
	cfg.Clients, cfg.Rate, cfg.Duration, cfg.Requests = *clients, *rate, *duration, *requests
	cfg.KeepAlive, cfg.Timeout, cfg.Path = *keepalive, *timeout, *path
	if onTerminal() {
		cfg.Progress = func(s loadgen.Second) {
			fmt.Fprintf(os.Stderr, "\r%3ds  %8d req/s  %6d errors ", s.At, s.Requests, s.Errors)
		}
	}
	// The load generator allocates little that lives long; collecting less
	// often leaves more CPU to the lab it measures.
	debug.SetGCPercent(400)
	res, err := loadgen.Run(ctx, cfg)
	if cfg.Progress != nil {
		fmt.Fprint(os.Stderr, "\r\033[K")
	}
	if err != nil {
		return err
	}
	if *asJSON {
		err = res.WriteJSON(os.Stdout)
	} else {
		fmt.Printf("lab %s, target %s (%d address(es)), from %d source address(es)\n", lab, *target, len(cfg.Targets), len(cfg.Sources))
		err = res.WriteTable(os.Stdout)
	}
	if err != nil {
		return err
	}
	if res.Interrupted {
		return exitError{code: 130, msg: "interrupted: the result above covers the run until Ctrl-C"}
	}
	if res.Successes == 0 {
		return exitError{code: 1, msg: "no request succeeded"}
	}
	return nil
}
