//go:build linux

package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/lvslab/lvslab/check"
)

// lvslab summary reads lvslab check --junit: one <testsuite> in
// <testsuites>, a check per <testcase>, an inconclusive one as
// <failure type="inconclusive">, assumed and not checked as <skipped>.
// Neither an inconclusive nor a skipped check may count as passed.
func TestSummaryReadsCheckJUnit(t *testing.T) {
	dir := t.TempDir()
	junit := func(name string, statuses ...check.Status) string {
		r := &check.Report{}
		for i, s := range statuses {
			r.Results = append(r.Results, check.Result{ID: "g/" + strconv.Itoa(i), Group: "g", Title: string(s), Status: s, Reason: "because"})
		}
		path := filepath.Join(dir, name)
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := r.WriteJUnit(f); err != nil {
			t.Fatal(err)
		}
		return path
	}
	passed := regexp.MustCompile(`(\d+) passed`)
	for _, c := range []struct {
		statuses []check.Status
		passed   int
		ok       bool
	}{
		{[]check.Status{check.Pass, check.Pass, check.Assumed, check.NotChecked}, 2, true},
		{[]check.Status{check.Pass, check.Fail, check.Assumed}, 1, false},
		{[]check.Status{check.Pass, check.Inconclusive, check.NotChecked}, 1, false},
	} {
		code, out := captured(t, "summary", junit("check-junit.xml", c.statuses...))
		m := passed.FindStringSubmatch(out)
		if m == nil || m[1] != strconv.Itoa(c.passed) || (code == exitPass) != c.ok {
			t.Errorf("summary of a check's JUnit with %v: exit %d, %q; want %d passed and exit %s", c.statuses, code, strings.TrimSpace(out),
				c.passed, map[bool]string{true: "0", false: "non-zero"}[c.ok])
		}
		if strings.Contains(out, "skipped") && !strings.Contains(out, strconv.Itoa(countSkipped(c.statuses))+" skipped") {
			t.Errorf("summary of %v: %q, want %d skipped (assumed, not checked)", c.statuses, out, countSkipped(c.statuses))
		}
	}
}

func countSkipped(statuses []check.Status) int {
	n := 0
	for _, s := range statuses {
		if s == check.Assumed || s == check.NotChecked {
			n++
		}
	}
	return n
}
