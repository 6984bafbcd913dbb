//go:build linux

package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/lvslab/lvslab/loadgen"
	"github.com/lvslab/lvslab/topology"
)

func init() {
	register(&command{
		name:    "load",
		summary: "Send HTTP load from the client namespace of a lab that is up, and report throughput, latency, errors and per-server counts.",
		usage:   "load [--name N] --target direct|vip|rsN [--clients C] [--duration D] [--requests R] [--rate R [--burst B]] [--keepalive] [--latency-from connect|write] [--ipv6] [--json]",
		root:    true,
		run:     runLoad,
	})
}

func runLoad(ctx context.Context, fs *flag.FlagSet, args []string) error {
	name := fs.String("name", "", "lab to load (default: the only lab up)")
	target := fs.String("target", "direct", "direct (every real server, round-robin), vip, or one real server (rs3)")
	clients := fs.Int("clients", 16, fmt.Sprintf("concurrent clients (closed loop), or most requests in flight (open loop); 1 to %d.\n"+
		"Memory grows with clients, never with the duration or the number of requests: at most %d bytes per client\n"+
		"(per client and target with --keepalive), 8 KiB per request in flight, %d kB per CPU used and %d bytes per\n"+
		"second of the run; %d MiB for %d clients on 8 targets with --keepalive for %s on this machine's %d CPUs",
		loadgen.MaxClients, loadgen.ConnBytes, (loadgen.HistogramBytes+loadgen.LoopBytes)>>10, loadgen.SecondBytes,
		loadgen.MemoryBound(loadgen.MaxClients, 8, true, loadgen.MaxDuration, runtime.NumCPU())>>20, loadgen.MaxClients,
		loadgen.MaxDuration, runtime.NumCPU()))
	duration := fs.Duration("duration", 10*time.Second, fmt.Sprintf("how long to load, up to %s", loadgen.MaxDuration))
	requests := fs.Int64("requests", 0, "stop after this many requests (0: only the duration bounds the run)")
	rate := fs.Float64("rate", 0, fmt.Sprintf("open loop at this many requests/s, %g to %g (0: closed loop)", float64(loadgen.MinRate), float64(loadgen.MaxRate)))
	burst := fs.Int("burst", 0, "with --rate: requests come due this many at a time, the same mean rate (0 or 1: evenly spaced; at most --clients)")
	latencyFrom := fs.String("latency-from", "connect", "closed loop: start a request's latency before its connection opens (connect, as WebBench)\n"+
		"or at its first write, sent once the new connection is writable (write, as wrk)")
	keepalive := fs.Bool("keepalive", false, "reuse connections (default: one new TCP connection per request, as WebBench)")
	v6 := fs.Bool("ipv6", false, "use IPv6 addresses")
	timeout := fs.Duration("timeout", 5*time.Second, fmt.Sprintf("per-request timeout, connect included, %s to %s; no request outlives --duration", loadgen.MinTimeout, loadgen.MaxTimeout))
	path := fs.String("path", "/", "request path (e.g. /?size=65536)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	cpuProfile := fs.String("cpuprofile", "", "write the load generator's CPU profile to `file` (go tool pprof)")
	procs := fs.Int("procs", 0, fmt.Sprintf("CPUs the load generator may use at once, one event loop each (GOMAXPROCS; 0: all %d).\n", runtime.NumCPU())+
		"On a small machine, 1 leaves more to the lab")
	if err := parse(find("load"), fs, args, false); err != nil {
		return err
	}
	if *timeout == 0 {
		return usageError{fmt.Errorf("--timeout 0s: use %s to %s", loadgen.MinTimeout, loadgen.MaxTimeout)}
	}
	settings := loadgen.Config{Clients: *clients, Rate: *rate, Burst: *burst, Duration: *duration, Requests: *requests,
		KeepAlive: *keepalive, Timeout: *timeout, Path: *path, LatencyFrom: loadgen.Clock(*latencyFrom), Procs: *procs}
	if err := settings.CheckSettings(); err != nil {
		return usageError{loadgen.AsFlags(err)}
	}
	if *procs > 0 {
		runtime.GOMAXPROCS(*procs)
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
	settings.Targets, settings.Sources, settings.Client = cfg.Targets, cfg.Sources, cfg.Client
	cfg = settings
	if err := cfg.CheckHostLimits(); err != nil {
		fmt.Fprintf(os.Stderr, "lvslab load: warning: %s\n", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	live := onTerminal()
	cfg.Progress = loadgen.ProgressPrinter(os.Stderr, "lvslab load", live, cfg.Duration)
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
	// The load generator allocates little that lives long; collecting less
	// often leaves more CPU to the lab it measures.
	debug.SetGCPercent(400)
	res, err := loadgen.Run(ctx, cfg)
	if live {
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
		return exitError{code: exitInterrupted, msg: "interrupted: the result above covers the run until Ctrl-C"}
	}
	if res.Successes == 0 {
		return exitError{code: exitFailure, msg: "no request succeeded"}
	}
	return nil
}
