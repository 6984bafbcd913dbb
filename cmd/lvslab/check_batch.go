//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/lvslab/lvslab/check"
)

// batch is lvslab check run over many inputs at once, in one VM: the
// mutations files of fixtures, or a folder of sample configurations.
type batch struct {
	mutations []string
	samples   string
	sets      []*check.MutationSet
}

// checkInputsGiven says which of the flags that give one check's inputs
// were set: a batch takes its inputs from its own files.
func checkInputsGiven(in check.Inputs, ids string) bool {
	return len(in.Keepalived) > 0 || in.Rules != "" || in.Capture != "" || in.Serve != "" || in.Root != "" || in.Remap || ids != ""
}

// read checks a batch before a VM boots.
func (bt *batch) read(single bool) error {
	switch {
	case single:
		return errors.New("--mutations and --samples take their inputs from their own files: leave out --keepalived, --ipvs-rules, --capture, --serve, --root, --remap and --config-id")
	case len(bt.mutations) > 0 && bt.samples != "":
		return errors.New("give --mutations or --samples, not both")
	}
	var errs []error
	for _, path := range bt.mutations {
		s, err := check.ReadMutations(path)
		errs = append(errs, err)
		bt.sets = append(bt.sets, s)
	}
	if bt.samples != "" {
		if matches, _ := filepath.Glob(filepath.Join(bt.samples, check.SamplePattern)); len(matches) == 0 {
			errs = append(errs, fmt.Errorf("--samples %s: no %s there (Debian's keepalived package installs them in %s)", bt.samples, check.SamplePattern, check.DebianSamples))
		}
	}
	return errors.Join(errs...)
}

// run runs the batch here, prints its Markdown table and writes it into
// outDir as mutations.md or samples.md.
func (bt *batch) run(ctx context.Context, name, outDir string, o check.Options) error {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	var table strings.Builder
	var code int
	var file string
	if len(bt.sets) > 0 {
		file = "mutations.md"
		var results []check.MutationResult
		for _, s := range bt.sets {
			results = append(results, check.RunMutations(ctx, s, nil, name, o)...)
		}
		if err := check.WriteMutationTable(&table, results); err != nil {
			return err
		}
		for _, r := range results {
			switch r.Outcome() {
			case check.Fail:
				code = exitFailure
			case check.Inconclusive, check.NotChecked:
				if code == exitPass {
					code = exitInconclusive
				}
			}
		}
	} else {
		file = "samples.md"
		opts := o
		opts.Out = outDir
		runs, err := check.RunSamples(ctx, bt.samples, name, opts)
		if err != nil {
			return err
		}
		if err := check.WriteSampleTable(&table, runs); err != nil {
			return err
		}
		for _, s := range runs {
			if s.Err != nil || len(s.Unexplained()) > 0 {
				code = exitFailure
				fmt.Fprintf(os.Stderr, "lvslab check: sample %s: %v %v\n", s.Name(), s.Err, s.Unexplained())
			}
		}
	}
	if err := os.WriteFile(filepath.Join(outDir, file), []byte(table.String()), 0o644); err != nil {
		return err
	}
	if _, err := io.WriteString(os.Stdout, table.String()); err != nil {
		return err
	}
	if code != exitPass {
		return exitError{code: code}
	}
	return nil
}
