//go:build linux

package check

import (
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
)

// DebianSamples is where Debian's keepalived package installs the sample
// configurations of keepalived's sources (25 in keepalived 2.2.7). They
// are read from there, never copied into the project.
const DebianSamples = "/usr/share/doc/keepalived/samples"

// SamplePattern matches the samples' configurations in that folder.
const SamplePattern = "keepalived.conf.*"

// SampleRun is the check of one sample configuration, alone (one
// director) and remapped (the samples use private addresses).
type SampleRun struct {
	Path   string
	Report *Report
	// Err is why no check ran: the file refused or the lab not built.
	Err error
}

// Name is the sample's name: its file's, less "keepalived.conf.".
func (s SampleRun) Name() string {
	return strings.TrimPrefix(filepath.Base(s.Path), "keepalived.conf.")
}

// Unexplained lists the results that are neither checked nor not checked
// with a reason: there must be none.
func (s SampleRun) Unexplained() []string {
	var out []string
	if s.Report == nil {
		return out
	}
	for _, r := range s.Report.Results {
		if r.Status == NotChecked && r.Reason == "" || !slices.Contains([]Status{Pass, Fail, Assumed, NotChecked, Inconclusive}, r.Status) {
			out = append(out, fmt.Sprintf("%s: %q without a reason", r.ID, r.Status))
		}
	}
	return out
}

// WriteSampleTable writes a Markdown table: one row per sample, one
// column per group any sample ran, each cell what its checks came to;
// the groups no run produced a result for are named below it.
func WriteSampleTable(w io.Writer, runs []SampleRun) error {
	var groups []string
	for _, g := range Groups {
		if slices.ContainsFunc(runs, func(s SampleRun) bool {
			return s.Report != nil && slices.ContainsFunc(s.Report.Results, func(r Result) bool { return r.Group == g })
		}) {
			groups = append(groups, g)
		}
	}
	ew := &errWriter{w: w}
	ew.printf("| sample | %s |\n|---|%s\n", strings.Join(groups, " | "), strings.Repeat("---|", len(groups)))
	for _, s := range runs {
		ew.printf("| %s |", s.Name())
		for i, g := range groups {
			c := sampleCell(s, g)
			if s.Err != nil && i > 0 {
				c = "not checked: as " + groups[0]
			}
			ew.printf(" %s |", cell(c))
		}
		ew.printf("\n")
	}
	var missing []string
	for _, g := range Groups {
		if !slices.Contains(groups, g) {
			missing = append(missing, g)
		}
	}
	if len(missing) > 0 {
		ew.printf("\nNo sample has a result of %s: those groups are not on this build.\n", strings.Join(missing, ", "))
	}
	return ew.err
}

// sampleCell says what one group's checks came to on a sample: checked
// (with each status counted) or not checked, with the first reason.
func sampleCell(s SampleRun, group string) string {
	if s.Err != nil {
		return "not checked: " + firstLine(s.Err.Error())
	}
	counts := map[Status]int{}
	reason := ""
	for _, r := range s.Report.shown().Results {
		if r.Group != group {
			continue
		}
		counts[r.Status]++
		if r.Status == NotChecked && reason == "" {
			reason = r.Reason
		}
	}
	var parts []string
	for _, st := range []Status{Pass, Fail, Assumed, Inconclusive} {
		if counts[st] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[st], st))
		}
	}
	switch {
	case len(parts) == 0 && counts[NotChecked] == 0:
		return "-"
	case len(parts) == 0:
		return "not checked: " + shorten(reason, 90)
	case counts[NotChecked] > 0:
		parts = append(parts, fmt.Sprintf("%d not checked (%s)", counts[NotChecked], shorten(reason, 60)))
	}
	return "checked: " + strings.Join(parts, ", ")
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return shorten(line, 120)
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}
