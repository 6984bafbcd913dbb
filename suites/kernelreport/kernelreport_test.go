package kernelreport

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onsi/ginkgo/v2/types"
)

// writeReport writes a Ginkgo JSON report whose specs made these entries
// (name, value), the kernel's first as a BeforeSuite would.
func writeReport(t *testing.T, name string, entries ...[2]string) string {
	t.Helper()
	var specs types.SpecReports
	for _, e := range entries {
		specs = append(specs, types.SpecReport{ReportEntries: types.ReportEntries{{Name: e[0], Value: types.WrapEntryValue(e[1])}}})
	}
	data, _ := json.Marshal([]types.Report{{SpecReports: specs}})
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestTableHasAColumnPerKernelOldestFirst(t *testing.T) {
	newest := writeReport(t, "ipvs-debian-sid.json", [2]string{KernelEntry, "debian-sid 7.2.13+deb14-amd64"},
		[2]string{BehaviourPrefix + "sysctl est_cpulist (from 6.2)", "0-1"},
		[2]string{BehaviourPrefix + "same everywhere", "yes"},
		[2]string{MeasurePrefix + "second connection", "3ms"})
	oldest := writeReport(t, "ipvs-debian-5.10.json", [2]string{KernelEntry, "debian-5.10 5.10.0-46-amd64"},
		[2]string{BehaviourPrefix + "sysctl est_cpulist (from 6.2)", "not on this kernel"},
		[2]string{BehaviourPrefix + "same everywhere", "yes"},
		[2]string{MeasurePrefix + "second connection", "4ms"},
		[2]string{"an entry of another kind", "x"})
	// Another VM's report of the same kernel adds to its column.
	perf := writeReport(t, "perf-ipvs-debian-5.10.json", [2]string{KernelEntry, "debian-5.10 5.10.0-46-amd64"},
		[2]string{BehaviourPrefix + "perf only", "0.8"})
	tab, err := Read(newest, oldest, perf)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(tab.Kernels, ";") != "debian-5.10 5.10.0-46-amd64;debian-sid 7.2.13+deb14-amd64" {
		t.Errorf("columns %q: want 5.10 before 7.2", tab.Kernels)
	}
	md := tab.Markdown()
	for _, want := range []string{
		"| behaviour | debian-5.10 5.10.0-46-amd64 | debian-sid 7.2.13+deb14-amd64 | differs |",
		"| sysctl est_cpulist (from 6.2) | not on this kernel | 0-1 | yes |",
		"| same everywhere | yes | yes |  |",
		"| second connection | 4ms | 3ms | (measured) |",
		"| perf only | 0.8 | (not run) | yes |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("table lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "another kind") {
		t.Error("an entry that is no behaviour made a row")
	}
	if _, err := Read(writeReport(t, "old.json", [2]string{BehaviourPrefix + "x", "y"})); err == nil || !strings.Contains(err.Error(), "names no kernel") {
		t.Errorf("a report without its kernel: %v", err)
	}
	if _, err := Read(); err == nil {
		t.Error("no report accepted")
	}
}

// Rows follow the specs' places in the suite's files, not the order a run
// happened to take them in: the generated document does not reshuffle.
func TestRowsFollowTheSpecsPlaces(t *testing.T) {
	spec := func(file string, line int, names ...string) types.SpecReport {
		s := types.SpecReport{LeafNodeLocation: types.CodeLocation{FileName: "/clone/suites/ipvs/" + file, LineNumber: line}}
		for _, n := range names {
			s.ReportEntries = append(s.ReportEntries, types.ReportEntry{Name: BehaviourPrefix + n, Value: types.WrapEntryValue("v")})
		}
		return s
	}
	kernel := types.SpecReport{ReportEntries: types.ReportEntries{{Name: KernelEntry, Value: types.WrapEntryValue("debian-6.1 6.1.0-56-amd64")}}}
	a, b, c := spec("gotcha_test.go", 40, "a1", "a2"), spec("gotcha_test.go", 300, "b"), spec("tun_test.go", 10, "c")
	var orders []string
	for i, specs := range []types.SpecReports{{kernel, c, b, a}, {kernel, a, c, b}} {
		data, _ := json.Marshal([]types.Report{{SpecReports: specs}})
		path := filepath.Join(t.TempDir(), "r.json")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		tab, err := Read(path)
		if err != nil {
			t.Fatal(err)
		}
		orders = append(orders, strings.Join(tab.Behaviours, ","))
		if orders[i] != "a1,a2,b,c" {
			t.Errorf("run %d: rows %s, want a1,a2,b,c", i+1, orders[i])
		}
	}
}
