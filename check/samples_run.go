//go:build linux

package check

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// RunSamples checks every sample configuration in dir alone and
// remapped, one after the other; o.Out, if set, gets each one's report
// in a folder of its name.
func RunSamples(ctx context.Context, dir, name string, o Options) ([]SampleRun, error) {
	files, err := filepath.Glob(filepath.Join(dir, SamplePattern))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no %s in %s: install keepalived's samples (Debian's keepalived package has them; ci/deps.sh installs it)", SamplePattern, dir)
	}
	slices.Sort(files)
	var out []SampleRun
	for i, f := range files {
		s := SampleRun{Path: f}
		progress(o, "sample %d of %d: %s", i+1, len(files), s.Name())
		opts := o
		if o.Out != "" {
			opts.Out = filepath.Join(o.Out, s.Name())
			if err := os.MkdirAll(opts.Out, 0o755); err != nil {
				return nil, err
			}
		}
		s.Report, s.Err = RunInputs(ctx, Inputs{Keepalived: []string{f}, Remap: true}, name, opts)
		if s.Report != nil && opts.Out != "" {
			if err := s.Report.WriteFiles(opts.Out); err != nil {
				return nil, err
			}
		}
		out = append(out, s)
		if err := ctx.Err(); err != nil {
			return out, err
		}
	}
	return out, nil
}
