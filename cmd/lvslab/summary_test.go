//go:build linux

package main

import (
	"strings"
	"testing"
)

// Each verdict of lvslab summary has its own exit status: a report where
// nothing ran is not a pass, and not a failure either.
func TestSummaryExitStatus(t *testing.T) {
	dir := t.TempDir()
	report := func(name, cases string) string {
		return writeText(t, dir, name, `<testsuites><testsuite name="s">`+cases+`</testsuite></testsuites>`)
	}
	passed := report("passed.xml", `<testcase name="a"></testcase>`)
	failed := report("failed.xml", `<testcase name="a"><failure/></testcase>`)
	skipped := report("skipped.xml", `<testcase name="a"><skipped/></testcase>`)
	inconclusive := report("inconclusive.xml", `<testcase name="a"><failure type="inconclusive"/></testcase>`)
	for _, c := range []struct {
		reports []string
		want    int
		says    string
	}{
		{[]string{passed}, exitPass, "1 passed, 0 failed, 0 inconclusive, 0 skipped"},
		{[]string{failed}, exitFailure, "0 passed, 1 failed"},
		{[]string{skipped}, exitNothingRan, "no spec ran"},
		{[]string{inconclusive}, exitInconclusive, "0 passed, 0 failed, 1 inconclusive"},
		{[]string{inconclusive, failed}, exitFailure, "0 passed, 1 failed, 0 inconclusive"},
		{[]string{skipped, passed}, exitPass, "1 passed, 0 failed, 0 inconclusive, 0 skipped"},
	} {
		code, out := captured(t, append([]string{"summary"}, c.reports...)...)
		if code != c.want || !strings.Contains(out, c.says) {
			t.Errorf("summary %v: exit %d, %q; want exit %d and %q", c.reports, code, out, c.want, c.says)
		}
	}
	if exitNothingRan == exitInconclusive || exitNothingRan == exitFailure {
		t.Errorf("no spec ran (%d) must be told apart from gate's inconclusive (%d) and from a failure", exitNothingRan, exitInconclusive)
	}
}
