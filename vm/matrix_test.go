//go:build linux

package vm

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestMatrixKeepsGoingAndExitsWithTheWorstStatus(t *testing.T) {
	kernels := []*Kernel{{Name: "a"}, {Name: "b"}, {Name: "c"}, {Name: "d"}}
	outcome := map[string]func() (*Result, error){
		"a": func() (*Result, error) { return &Result{ExitCode: 0, Accel: "tcg"}, nil },
		"b": func() (*Result, error) { return &Result{ExitCode: 3, Accel: "tcg"}, nil },
		"c": func() (*Result, error) { return nil, errors.New("no boot") },
		"d": func() (*Result, error) { return &Result{ExitCode: 2, Accel: "kvm"}, nil },
	}
	run := func(_ context.Context, o Options) (*Result, error) { return outcome[o.Kernel.Name]() }

	m, err := runMatrix(t.Context(), Options{}, kernels, true, run)
	if err != nil {
		t.Fatal(err)
	}
	if m.Worst != 3 {
		t.Errorf("worst exit status %d, want 3 (b's)", m.Worst)
	}
	want := []string{"passed", "FAILED (exit status 3)", "FAILED: no boot", "FAILED (exit status 2)"}
	if len(m.Lines) != len(want) {
		t.Fatalf("lines %q: want one per kernel", m.Lines)
	}
	for i, w := range want {
		if !strings.HasPrefix(m.Lines[i], kernels[i].Name) || !strings.Contains(m.Lines[i], w) {
			t.Errorf("line %d %q: want kernel %s and %q", i, m.Lines[i], kernels[i].Name, w)
		}
	}

	// Only a VM that could not run at all: exit status 1.
	m, _ = runMatrix(t.Context(), Options{}, kernels[2:3], true, run)
	if m.Worst != 1 {
		t.Errorf("a kernel whose VM failed: worst %d, want 1", m.Worst)
	}
	// Without keepGoing, the VM's error ends the run.
	if _, err := runMatrix(t.Context(), Options{}, kernels, false, run); err == nil || err.Error() != "no boot" {
		t.Errorf("one kernel at a time: %v, want the VM's error", err)
	}
	// Ctrl-C ends a matrix at once.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	cancelled := func(ctx context.Context, _ Options) (*Result, error) { return nil, ctx.Err() }
	if m, err := runMatrix(ctx, Options{}, kernels, true, cancelled); !errors.Is(err, context.Canceled) || len(m.Lines) != 0 {
		t.Errorf("cancelled matrix: %v, %q", err, m.Lines)
	}
}
