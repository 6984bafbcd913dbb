//go:build linux

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/lvslab/lvslab/bench"
)

func init() {
	register(&command{
		name:    "bench",
		summary: "Reproduce the paper's Figure 7 (direct, routed, NAT, DR, TUN; interleaved trials) into results.json, results.txt, figure7.svg/png, summary.md.",
		usage: "bench [--modes direct,routed,nat,dr,tun] [--clients 8,32] [--conn new|keepalive] [--trials 6] " +
			"[--duration 1.5s] [--warmup 0.3s] [--latency 1s]\n   [--light-trials 3] [--light-duration 0.5s] [--light-share 0.4] [--light-burst 8] [--stations 4] " +
			"[--isolate] [--cap STATION=CPUS,…] [--switch static|learning] [--sched-batch=false]\n   [--where auto|host|vm] [--kernel K] [--out DIR] [--save-baseline FILE]",
		root: true,
		run:  runBench,
	})
}

func runBench(ctx context.Context, fs *flag.FlagSet, args []string) error {
	var b bench.Flags
	b.Register(fs)
	if err := parse(find("bench"), fs, args, false); err != nil {
		return err
	}
	cfg, err := b.Config(fs)
	if err != nil {
		return usageError{err}
	}
	if b.Out, err = filepath.Abs(b.Out); err != nil {
		return err
	}
	var res *bench.Result
	if b.ConfigFile != "" {
		// The guest's half of a run the host placed in the VM.
		res, err = benchHere(ctx, cfg, b.Out)
	} else {
		res, err = benchPlaced(ctx, cfg, &b)
	}
	if err != nil {
		return benchError(ctx, err)
	}
	if err := res.WriteTable(os.Stdout); err != nil {
		return err
	}
	if len(res.Points) > 0 {
		fmt.Printf("\nfigure:  %s", filepath.Join(b.Out, bench.FigureSVG))
	}
	fmt.Printf("\nsummary: %s\ntrials:  %s (benchstat -col /mode %s)\n", filepath.Join(b.Out, bench.SummaryMD),
		filepath.Join(b.Out, bench.ResultsJSON), filepath.Join(b.Out, bench.ResultsText))
	if b.Baseline != "" {
		if err := res.SaveBaseline(b.Baseline); err != nil {
			return err
		}
		fmt.Printf("baseline: %s\n", b.Baseline)
	}
	return nil
}

// benchPlaced runs the benchmark where --where places it.
func benchPlaced(ctx context.Context, cfg bench.Config, b *bench.Flags) (*bench.Result, error) {
	place, err := bench.Place(cfg, b.Where, b.VM)
	if err != nil {
		return nil, usageError{err}
	}
	if place.Note != "" {
		fmt.Fprintln(os.Stderr, "lvslab bench: "+place.Note)
	}
	if !place.InVM {
		return benchHere(ctx, place.Config, b.Out)
	}
	o, err := bench.GuestRuns("bench", place.VM)
	if err != nil {
		return nil, err
	}
	return bench.RunInVM(ctx, place.Config, b.Out, o)
}

// benchHere runs the benchmark on this kernel and writes its files.
func benchHere(ctx context.Context, cfg bench.Config, out string) (*bench.Result, error) {
	cfg.SuperviseServers = true
	p := bench.NewProgress("bench", onTerminal())
	cfg.Progress = func(s bench.Step) { p.Step(s.Done, s.Total, s.Work, s.Left, s.String()) }
	res, err := bench.Run(ctx, cfg)
	p.Finish()
	if err != nil {
		return nil, err
	}
	res.Env.Version = version()
	return res, res.WriteFiles(out)
}

// benchError gives a benchmark that failed in the VM the guest's exit
// status, and one that Ctrl-C ended lvslab's own.
func benchError(ctx context.Context, err error) error {
	var ge *bench.GuestError
	switch {
	case errors.As(err, &ge):
		return exitError{code: ge.Code, msg: ge.Error()}
	case ctx.Err() != nil:
		return exitError{code: exitInterrupted, msg: "interrupted: every lab was removed"}
	}
	return err
}
