//go:build linux

package check

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
)

// RunInputs is lvslab check on one set of inputs: read, plan, run (here:
// the kernel must have ip_vs).
func RunInputs(ctx context.Context, in Inputs, name string, o Options) (*Report, error) {
	b, err := Load(in)
	if err != nil {
		return nil, err
	}
	d, err := Plan(b, name)
	if err != nil {
		return nil, err
	}
	return Run(ctx, b, d, o)
}

// RunMutations runs a fixture once for every set of checks its edits
// run, then each edit with its checks, and lists what each flipped.
// Every run is a whole check: a lab built, keepalived run, the lab gone.
func RunMutations(ctx context.Context, s *MutationSet, only func(Mutation) bool, name string, o Options) []MutationResult {
	baselines := map[string]*Report{}
	errs := map[string]error{}
	var out []MutationResult
	for _, m := range s.Mutations {
		if only != nil && !only(m) {
			continue
		}
		checks := m.RunChecks(s)
		key := strings.Join(checks, ",")
		opts := o
		opts.Only = slices.Clone(checks)
		opts.Out = "" // a run's evidence would overwrite the last one's
		if _, done := baselines[key]; !done && errs[key] == nil {
			progress(o, "%s as it is, checks %s", s.Name, key)
			baselines[key], errs[key] = RunInputs(ctx, s.Inputs(), name, opts)
		}
		r := MutationResult{Set: s, Mutation: m}
		if r.Err = errs[key]; r.Err == nil {
			progress(o, "%s with %s:%d changed (%s)", s.Name, m.File, m.Line, m.Name)
			var after *Report
			if after, r.Err = runEdited(ctx, s, m, name, opts); r.Err == nil {
				r.judge(baselines[key], after)
			}
		}
		out = append(out, r)
		if ctx.Err() != nil {
			break
		}
	}
	return out
}

func runEdited(ctx context.Context, s *MutationSet, m Mutation, name string, o Options) (*Report, error) {
	dir, err := os.MkdirTemp("", "lvslab-mutation-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	in, err := s.apply(m, dir)
	if err != nil {
		return nil, err
	}
	return RunInputs(ctx, in, name, o)
}

func progress(o Options, format string, a ...any) {
	if o.Progress != nil {
		o.Progress(fmt.Sprintf(format, a...))
	}
}
