package junit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeReport(t *testing.T, xml string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "r.xml")
	if err := os.WriteFile(p, []byte(xml), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestEveryFailureCounts(t *testing.T) {
	for _, c := range []struct {
		name, xml string
		want      Totals
	}{
		{"Ginkgo's own", `<testsuites><testsuite name="S"><testcase name="[BeforeSuite]"/><testcase name="a"/><testcase name="b"><failure/></testcase><testcase name="c"><skipped/></testcase></testsuite></testsuites>`,
			Totals{Passed: 1, Failed: 1, Skipped: 1}},
		// As pytest, Maven Surefire and others write it: the root is the suite.
		{"root testsuite", `<testsuite name="S"><testcase name="a"/><testcase name="b"><failure message="x"/></testcase></testsuite>`,
			Totals{Passed: 1, Failed: 1}},
		{"nested testsuite", `<testsuites><testsuite name="S"><testsuite name="inner"><testcase name="b"><error/></testcase></testsuite><testcase name="a"/></testsuite></testsuites>`,
			Totals{Passed: 1, Failed: 1}},
		{"a suite that failed without a failed case", `<testsuites><testsuite name="S" failures="1"><testcase name="a"/></testsuite></testsuites>`,
			Totals{Passed: 1, Failed: 1}},
		{"inconclusive", `<testsuites><testsuite name="check"><testcase name="a"><failure type="inconclusive" message="too few trials"/></testcase><testcase name="b"/></testsuite></testsuites>`,
			Totals{Passed: 1, Inconclusive: 1}},
	} {
		got, err := Add(writeReport(t, c.xml))
		if err != nil || got != c.want {
			t.Errorf("%s: %+v, %v; want %+v", c.name, got, err, c.want)
		}
	}
}

func TestAFailureWinsOverInconclusiveAcrossReports(t *testing.T) {
	a := writeReport(t, `<testsuite name="S"><testcase name="x"><failure type="inconclusive"/></testcase></testsuite>`)
	b := writeReport(t, `<testsuite name="S"><testcase name="x"><failure/></testcase></testsuite>`)
	if got, err := Add(a, b); err != nil || got != (Totals{Failed: 1}) {
		t.Errorf("%+v, %v; want one failed", got, err)
	}
}

func TestWhatIsNotAReportIsRefused(t *testing.T) {
	for _, c := range []struct{ name, path, want string }{
		{"html", writeReport(t, `<html><body><testcase name="a"/></body></html>`), "its root is <html>"},
		{"not xml", writeReport(t, `passed`), "not JUnit XML"},
		{"endless", "/dev/zero", "not a regular file"},
	} {
		if _, err := Add(c.path); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", c.name, err, c.want)
		}
	}
	big := filepath.Join(t.TempDir(), "big.xml")
	if err := os.WriteFile(big, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, MaxReportBytes+1); err != nil {
		t.Fatal(err)
	}
	if _, err := Add(big); err == nil || !strings.Contains(err.Error(), "more than the 64 MiB") {
		t.Errorf("a report over the bound: %v", err)
	}
}
