//go:build linux

package vm

import (
	"context"
	"fmt"
	"time"
)

// Matrix is one command run on several kernels (lvslab vm --matrix).
type Matrix struct {
	// Lines are one summary line per kernel, in the order run.
	Lines []string
	// Worst is the worst exit status: the highest of the guests', and 1
	// for a kernel whose VM could not run the command.
	Worst int
}

// RunMatrix runs o's command on each kernel in turn and logs a line for
// each. With keepGoing a kernel whose VM fails is a failed line, not the
// end of the matrix; without, its error ends it. ctx ending always does.
func RunMatrix(ctx context.Context, o Options, kernels []*Kernel, keepGoing bool) (*Matrix, error) {
	return runMatrix(ctx, o, kernels, keepGoing, Run)
}

func runMatrix(ctx context.Context, o Options, kernels []*Kernel, keepGoing bool, run func(context.Context, Options) (*Result, error)) (*Matrix, error) {
	m := &Matrix{}
	log := o.Log
	if log == nil {
		log = func(string) {}
	}
	for _, k := range kernels {
		start := time.Now()
		o.Kernel = k
		res, err := run(ctx, o)
		if err != nil && (!keepGoing || ctx.Err() != nil) {
			return m, err
		}
		if err != nil {
			m.Lines = append(m.Lines, fmt.Sprintf("%-12s %-24s FAILED: %v", k.Name, k.Release, err))
			m.Worst = max(m.Worst, 1)
			continue
		}
		verdict := "passed"
		if res.ExitCode != 0 {
			verdict = fmt.Sprintf("FAILED (exit status %d)", res.ExitCode)
			m.Worst = max(m.Worst, res.ExitCode)
		}
		line := fmt.Sprintf("%-12s %-24s %s under %s, boot %.1fs, total %s", k.Name, k.Release, verdict, res.Accel,
			res.Boot.Seconds(), time.Since(start).Round(time.Second))
		log(line)
		m.Lines = append(m.Lines, line)
	}
	return m, nil
}
