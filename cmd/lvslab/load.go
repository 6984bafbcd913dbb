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

	"github.com/lvslab/lvslab/loadgen"
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
	var lf loadgen.Flags
	lf.Register(fs)
	asJSON := fs.Bool("json", false, "print the result as JSON")
	cpuProfile := fs.String("cpuprofile", "", "write the load generator's CPU profile to `file` (go tool pprof)")
	if err := parse(find("load"), fs, args, false); err != nil {
		return err
	}
	settings, err := lf.Settings()
	if err != nil {
		return usageError{err}
	}
	if settings.Procs > 0 {
		runtime.GOMAXPROCS(settings.Procs)
	}
	t, done, err := useLab(*name)
	if err != nil {
		return err
	}
	defer done()
	cfg, err := loadgen.ForLab(t, lf.Target, lf.IPv6)
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
		fmt.Printf("lab %s, target %s (%d address(es)), from %d source address(es)\n", t.Spec.Name, lf.Target, len(cfg.Targets), len(cfg.Sources))
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
