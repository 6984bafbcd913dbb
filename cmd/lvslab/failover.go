//go:build linux

package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/lvslab/lvslab/bench"
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
	var f bench.FailoverFlags
	f.Register(fs)
	if err := parse(find("failover"), fs, args, false); err != nil {
		return err
	}
	cfg, err := f.Config()
	if err != nil {
		return usageError{err}
	}
	dir, err := filepath.Abs(f.Out)
	if err != nil {
		return err
	}
	if err := bench.CheckOutDir(dir); err != nil {
		return usageError{fmt.Errorf("--out: %w", err)}
	}
	var res *bench.FailoverResult
	if f.ConfigFile != "" {
		// The guest's half of a run the host placed in the VM.
		res, err = failoverHere(ctx, cfg, dir)
	} else {
		res, err = failoverPlaced(ctx, cfg, dir, f.Where, f.VM)
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
	if o, err = bench.GuestRuns("failover", o); err != nil {
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
