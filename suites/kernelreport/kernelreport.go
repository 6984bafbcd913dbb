// Package kernelreport turns the IPVS suite's Ginkgo JSON reports, from
// runs on several kernels, into one table of how IPVS behaved on each:
// one row per behaviour a spec recorded (a report entry whose name starts
// with BehaviourPrefix), one column per kernel (the KernelEntry of each
// report): make test-matrix writes it to results/kernels.md. It only reads reports.
package kernelreport

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/onsi/ginkgo/v2/types"
)

const (
	// BehaviourPrefix starts the name of a report entry that records what
	// the kernel under test did ("kernel: est_cpulist"), and its value
	// what was seen or measured.
	BehaviourPrefix = "kernel: "
	// MeasurePrefix starts the name of an entry that records a value
	// measured on the kernel (a time, a rate): shown, but not compared,
	// since it varies from run to run as well.
	MeasurePrefix = "kernel measured: "
	// KernelEntry names the report entry, made before the suite's specs,
	// that says which kernel they ran on ("debian-6.1 6.1.0-56-amd64").
	KernelEntry = "lvslab kernel"
)

// Table is the behaviours of several kernels.
type Table struct {
	// Kernels are the columns, oldest release first.
	Kernels []string
	// Behaviours are the rows, in the order of the specs' places in the
	// suite's files (where each was first reported): the same from run to
	// run, whatever order Ginkgo ran the specs in, and a spec's rows together.
	Behaviours []string
	// Seen[behaviour][kernel] is what that kernel showed.
	Seen map[string]map[string]string
	// Measured are the rows of measured values.
	Measured map[string]bool
}

// Read reads Ginkgo JSON reports (-ginkgo.json-report). Several reports
// of one kernel (the suite's VMs: specs, perf, isolation) add up.
func Read(paths ...string) (*Table, error) {
	if len(paths) == 0 {
		return nil, errors.New("name at least one Ginkgo JSON report (make test-ipvs writes results/ipvs-KERNEL.json)")
	}
	t := &Table{Seen: map[string]map[string]string{}, Measured: map[string]bool{}}
	type place struct {
		file        string
		line, entry int
	}
	where := map[string]place{}
	before := func(a, b place) bool {
		if a.file != b.file {
			return a.file < b.file
		}
		if a.line != b.line {
			return a.line < b.line
		}
		return a.entry < b.entry
	}
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read report: %w", err)
		}
		var reports []types.Report
		if err := json.Unmarshal(data, &reports); err != nil {
			return nil, fmt.Errorf("report %s is not a Ginkgo JSON report: %w", path, err)
		}
		kernel := ""
		for _, r := range reports {
			for _, s := range r.SpecReports {
				for _, e := range s.ReportEntries {
					if e.Name == KernelEntry && kernel == "" {
						kernel = e.StringRepresentation()
					}
				}
			}
		}
		if kernel == "" {
			return nil, fmt.Errorf("report %s names no kernel (no %q entry): write it with this lvslab's suites", path, KernelEntry)
		}
		if !slices.Contains(t.Kernels, kernel) {
			t.Kernels = append(t.Kernels, kernel)
		}
		for _, r := range reports {
			for _, s := range r.SpecReports {
				for i, e := range s.ReportEntries {
					name, ok := strings.CutPrefix(e.Name, BehaviourPrefix)
					if m, measured := strings.CutPrefix(e.Name, MeasurePrefix); measured {
						name, ok = m, true
						t.Measured[name] = true
					}
					if !ok {
						continue
					}
					if t.Seen[name] == nil {
						t.Seen[name] = map[string]string{}
						t.Behaviours = append(t.Behaviours, name)
					}
					t.Seen[name][kernel] = e.StringRepresentation()
					at := place{filepath.Base(s.LeafNodeLocation.FileName), s.LeafNodeLocation.LineNumber, i}
					if p, ok := where[name]; !ok || before(at, p) {
						where[name] = at
					}
				}
			}
		}
	}
	slices.SortStableFunc(t.Kernels, func(a, b string) int { return compareReleases(release(a), release(b)) })
	slices.SortStableFunc(t.Behaviours, func(a, b string) int {
		switch {
		case before(where[a], where[b]):
			return -1
		case before(where[b], where[a]):
			return 1
		}
		return 0
	})
	return t, nil
}

// Differs reports whether a behaviour was not the same on every kernel
// (a kernel that did not run its spec counts as different).
func (t *Table) Differs(behaviour string) bool {
	var first string
	for i, k := range t.Kernels {
		v := t.Seen[behaviour][k]
		if i == 0 {
			first = v
		} else if v != first {
			return true
		}
	}
	return false
}

// Markdown is the table as make test-matrix writes it: a column per kernel,
// a row per behaviour, and whether it differs from kernel to kernel.
func (t *Table) Markdown() string {
	var b strings.Builder
	cell := func(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ") }
	b.WriteString("| behaviour |")
	for _, k := range t.Kernels {
		fmt.Fprintf(&b, " %s |", cell(k))
	}
	b.WriteString(" differs |\n|---|")
	for range t.Kernels {
		b.WriteString("---|")
	}
	b.WriteString("---|\n")
	for _, beh := range t.Behaviours {
		fmt.Fprintf(&b, "| %s |", cell(beh))
		for _, k := range t.Kernels {
			v, ok := t.Seen[beh][k]
			if !ok {
				v = "(not run)"
			}
			fmt.Fprintf(&b, " %s |", cell(v))
		}
		differs := ""
		switch {
		case t.Measured[beh]:
			differs = "(measured)"
		case t.Differs(beh):
			differs = "yes"
		}
		fmt.Fprintf(&b, " %s |\n", differs)
	}
	return b.String()
}

var releaseRE = regexp.MustCompile(`\b(\d+)\.(\d+)(?:\.(\d+))?`)

// release is the kernel release in a KernelEntry ("debian-6.1 6.1.0-56-amd64").
func release(kernel string) string {
	if f := strings.Fields(kernel); len(f) > 1 {
		return f[len(f)-1]
	}
	return kernel
}

// compareReleases orders kernel releases by version (5.10 before 6.1).
func compareReleases(a, b string) int {
	va, vb := releaseRE.FindStringSubmatch(a), releaseRE.FindStringSubmatch(b)
	if va == nil || vb == nil {
		return strings.Compare(a, b)
	}
	for i := 1; i <= 3; i++ {
		x, _ := strconv.Atoi(va[i])
		y, _ := strconv.Atoi(vb[i])
		if x != y {
			return x - y
		}
	}
	return strings.Compare(a, b)
}

// Document is the whole page (results/kernels.md): the table with what it is and how it is
// made again.
func (t *Table) Document() string {
	var b strings.Builder
	b.WriteString(`# IPVS behaviour by kernel

What the IPVS suite saw on each kernel of ` + "`fixtures/kernels.yaml`" + `, booted in ` + "`lvslab vm`" + `: one row per
behaviour a spec records, one column per kernel. Where a behaviour or a control changed in a kernel release,
the spec states both behaviours with the release that changed it and checks the one the kernel should show;
a control a kernel lacks reads "not on this kernel". "differs" marks rows not the same on every kernel;
measured rows (times) vary from run to run too and are not compared. How the kernels are pinned, fetched
and booted: docs/vm-and-kernels.md in the lvslab repository.

Made by ` + "`make test-matrix`" + `, or by hand from the suite's JSON reports:

    make test-ipvs KERNEL=debian-5.10 FORCE_VM=1        # one kernel; results/ipvs-debian-5.10.json
    bin/lvslab summary --kernels results/*ipvs-*.json > results/kernels.md

`)
	b.WriteString(t.Markdown())
	return b.String()
}
