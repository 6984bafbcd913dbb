//go:build linux

package check

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Given says whether any input of one check was given: a batch takes its
// inputs from its own files and refuses these.
func (in Inputs) Given() bool {
	return len(in.Keepalived) > 0 || in.Rules != "" || in.Capture != "" || in.Serve != "" || in.Root != "" || in.Remap || len(in.ConfigIDs) > 0
}

// ParseGroups reads a comma-separated list of check groups ("" for
// every group), naming each that is not one of Groups.
func ParseGroups(list string) ([]string, error) {
	var groups []string
	var errs []error
	for _, g := range strings.Split(list, ",") {
		if g = strings.TrimSpace(g); g == "" {
			continue
		}
		if !slices.Contains(Groups, g) {
			errs = append(errs, fmt.Errorf("--checks %s: no such group (use %s)", g, strings.Join(Groups, ",")))
		}
		groups = append(groups, g)
	}
	return groups, errors.Join(errs...)
}

// GuestArgs are the arguments a check placed in the VM runs with there:
// lvslab check's own, less where, the kernel and the JUnit copy (the host
// copies that out of the shared output folder).
func GuestArgs(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		name := strings.TrimLeft(a, "-")
		switch {
		case a == "--where" || a == "-where" || a == "--junit" || a == "-junit" || a == "--kernel" || a == "-kernel":
			i++
		case strings.HasPrefix(name, "where=") || strings.HasPrefix(name, "junit=") || strings.HasPrefix(name, "kernel="):
		default:
			out = append(out, a)
		}
	}
	return out
}

// CopyJUnit copies a run's junit.xml from outDir to the file --junit
// names ("" for none).
func CopyJUnit(outDir, to string) error {
	if to == "" {
		return nil
	}
	data, err := os.ReadFile(filepath.Join(outDir, JUnitFile))
	if err != nil {
		return fmt.Errorf("the check wrote no JUnit report: %w", err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		return fmt.Errorf("copy the JUnit report: %w", err)
	}
	return nil
}
