//go:build linux

package check

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// A Batch is lvslab check run over many inputs at once, in one VM: the
// mutations files of fixtures, or a folder of sample configurations.
type Batch struct {
	Mutations []string
	Samples   string
	sets      []*MutationSet
}

// Given says whether the batch was asked for.
func (bt *Batch) Given() bool { return len(bt.Mutations) > 0 || bt.Samples != "" }

// Read checks a batch before a VM boots; single says the inputs of one
// check were given too, which a batch refuses (it takes its inputs from
// its own files).
func (bt *Batch) Read(single bool) error {
	switch {
	case single:
		return errors.New("--mutations and --samples take their inputs from their own files: leave out --keepalived, --ipvs-rules, --capture, --serve, --root, --remap and --config-id")
	case len(bt.Mutations) > 0 && bt.Samples != "":
		return errors.New("give --mutations or --samples, not both")
	}
	var errs []error
	for _, path := range bt.Mutations {
		s, err := ReadMutations(path)
		errs = append(errs, err)
		bt.sets = append(bt.sets, s)
	}
	if bt.Samples != "" {
		if matches, _ := filepath.Glob(filepath.Join(bt.Samples, SamplePattern)); len(matches) == 0 {
			errs = append(errs, fmt.Errorf("--samples %s: no %s there (Debian's keepalived package installs them in %s)", bt.Samples, SamplePattern, DebianSamples))
		}
	}
	return errors.Join(errs...)
}

// Run runs the batch here and writes its Markdown table into outDir as
// mutations.md or samples.md. It returns the table and the batch's
// verdict: Fail when a result failed, else Inconclusive when one could not
// be judged, else Pass.
func (bt *Batch) Run(ctx context.Context, name, outDir string, o Options) (string, Status, error) {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return "", "", err
	}
	var table strings.Builder
	var verdict Status
	var file string
	var err error
	if len(bt.sets) > 0 {
		file = "mutations.md"
		verdict, err = bt.runMutations(ctx, &table, name, o)
	} else {
		file = "samples.md"
		o.Out = outDir
		verdict, err = bt.runSamples(ctx, &table, name, o)
	}
	if err != nil {
		return "", "", err
	}
	if err := os.WriteFile(filepath.Join(outDir, file), []byte(table.String()), 0o644); err != nil {
		return "", "", err
	}
	return table.String(), verdict, nil
}

func (bt *Batch) runMutations(ctx context.Context, table *strings.Builder, name string, o Options) (Status, error) {
	var results []MutationResult
	for _, s := range bt.sets {
		results = append(results, RunMutations(ctx, s, nil, name, o)...)
	}
	if err := WriteMutationTable(table, results); err != nil {
		return "", err
	}
	verdict := Pass
	for _, r := range results {
		switch r.Outcome() {
		case Fail:
			verdict = Fail
		case Inconclusive, NotChecked:
			if verdict == Pass {
				verdict = Inconclusive
			}
		}
	}
	return verdict, nil
}

func (bt *Batch) runSamples(ctx context.Context, table *strings.Builder, name string, o Options) (Status, error) {
	runs, err := RunSamples(ctx, bt.Samples, name, o)
	if err != nil {
		return "", err
	}
	if err := WriteSampleTable(table, runs); err != nil {
		return "", err
	}
	verdict := Pass
	for _, s := range runs {
		if s.Err != nil || len(s.Unexplained()) > 0 {
			verdict = Fail
			progress(o, "sample %s: %v %v", s.Name(), s.Err, s.Unexplained())
		}
	}
	return verdict, nil
}
