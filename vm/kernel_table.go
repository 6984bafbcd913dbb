//go:build linux

package vm

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/lvslab/lvslab/fixtures"
)

// Pick returns the kernels named, or every kernel of the list with all:
// one or the other, as lvslab kernels fetch takes them.
func (l *KernelList) Pick(names []string, all bool) ([]KernelSpec, error) {
	if all == (len(names) > 0) {
		return nil, errors.New("fetch takes kernel names or --all, not both and not neither")
	}
	if all {
		return l.Kernels, nil
	}
	var specs []KernelSpec
	for _, n := range names {
		s, err := l.Find(n)
		if err != nil {
			return nil, err
		}
		specs = append(specs, s)
	}
	return specs, nil
}

// WriteTable writes the list, each kernel's pinned build and whether its
// cache entry is there and verified, then a note for each kernel that
// follows a moving suite. It returns what is wrong with each cache entry
// that changed since it was fetched.
func (l *KernelList) WriteTable(w io.Writer) ([]string, error) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "NAME\tPACKAGE\tVERSION\tSUITE\tSHA256\tCACHE\n")
	var problems, notes []string
	for _, s := range l.Kernels {
		state := "cached, verified"
		if _, err := Cached(s); errors.Is(err, ErrNotCached) {
			state = "not cached (lvslab kernels fetch " + s.Name + ")"
		} else if err != nil {
			state = "CHANGED"
			problems = append(problems, err.Error())
		}
		name := s.Name
		if s.Name == l.Default {
			name += " (default)"
		}
		suite := s.Suite
		if s.Moving {
			suite += " (moving)"
			notes = append(notes, fmt.Sprintf("%s follows %s, which replaces its kernel every few weeks: when fetching it says the pinned version is gone, re-pin it with: lvslab kernels update --write%s %s",
				s.Name, s.Suite, l.fileFlag(), s.Name))
		}
		// A split build shows each of its packages on a line of its own.
		for i, d := range s.Debs() {
			if i == 0 {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s…\t%s\n", name, d.Package, d.Version, suite, d.SHA256[:12], state)
			} else {
				fmt.Fprintf(tw, "\t%s\t%s\t\t%s…\t\n", d.Package, d.Version, d.SHA256[:12])
			}
		}
	}
	if err := tw.Flush(); err != nil {
		return nil, err
	}
	_, err := fmt.Fprintf(w, "list: %s; cache: %s\n", l.File, CacheDir())
	for _, n := range notes {
		fmt.Fprintln(w, n)
	}
	return problems, err
}

// fileFlag is the --kernels flag that names a list of the user's own.
func (l *KernelList) fileFlag() string {
	if l.File == fixtures.KernelsFile {
		return ""
	}
	return " --kernels " + l.File
}

// PinLine is a build's packages with their versions and SHA256s.
func (s KernelSpec) PinLine() string {
	var parts []string
	for _, d := range s.Debs() {
		parts = append(parts, fmt.Sprintf("%s %s (sha256 %s)", d.Package, d.Version, d.SHA256))
	}
	return strings.Join(parts, " + ")
}

// WritePinReport writes what lvslab kernels update found for each kernel and
// returns how many pins changed.
func WritePinReport(w io.Writer, pins []Pin) int {
	changed := 0
	for _, p := range pins {
		switch {
		case p.Note != "":
			fmt.Fprintf(w, "%s: %s\n", p.Name, p.Note)
		case p.Changed():
			changed++
			fmt.Fprintf(w, "%s: %s %s -> %s\n", p.Name, p.Old.PackageNames(), p.Old.VersionString(), p.New.PinLine())
		default:
			fmt.Fprintf(w, "%s: %s %s is still what %s resolves to\n", p.Name, p.Old.PackageNames(), p.Old.VersionString(), p.Old.Metapackage)
		}
	}
	return changed
}
