//go:build linux

package check

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// WriteText writes the report for a person: the inputs, the assumptions
// and changes the results rest on, each check with its bound beside what
// was measured, and the verdict.
func (r *Report) WriteText(w io.Writer) error {
	r = r.shown()
	ew := &errWriter{w: w}
	ew.printf("lvslab check: %s\n", strings.Join(r.Inputs, ", "))
	ew.printf("ran on kernel %s (%s)", r.Kernel, r.Where)
	if r.Keepalived != "" {
		ew.printf(", %s", r.Keepalived)
	}
	ew.printf("; timers ran up to %s late here, added to every bound\n", time.Duration(r.Lateness).Round(time.Millisecond))
	if pairs := r.Remap.Pairs(); len(pairs) > 0 {
		ew.printf("\nremapped onto documentation prefixes (the lab ran on these; every address below is yours):\n")
		for _, p := range pairs {
			ew.printf("  %-20s -> %-20s first named at %s\n", p.From, p.To, p.Seen)
		}
	}
	if len(r.Assumptions) > 0 {
		ew.printf("\nassumed (checks marked \"assumed\" rest on these):\n")
		for _, a := range r.Assumptions {
			give := ""
			if a.Give != "" {
				give = "; give " + a.Give
			}
			ew.printf("  %-4s %s%s%s\n", a.ID, a.Fact, at(a.Where), give)
		}
	}
	if len(r.Changes) > 0 {
		ew.printf("\nchanged in the copies keepalived runs in the lab:\n")
		for _, c := range r.Changes {
			ew.printf("  %s: %s\n      now %s (%s)\n", c.Where, c.Was, c.Now, c.Why)
		}
	}
	for _, res := range r.Results {
		ew.printf("\n%-13s%s: %s\n", res.Status, res.ID, res.Title)
		for _, line := range []struct{ k, v string }{{"bound", res.Bound}, {"measured", res.Measured},
			{"why", res.Reason}, {"rests on", strings.Join(res.RestsOn, ", ")}, {"where", positions(res.Where)}} {
			if line.v != "" {
				ew.printf("             %-9s %s\n", line.k, line.v)
			}
		}
	}
	peak := ""
	if r.PeakMemory > 0 {
		peak = fmt.Sprintf(", peak memory %d MiB", r.PeakMemory>>20)
	}
	ew.printf("\n%s\nverdict: %s (%s%s)\n", r.Totals(), r.Verdict(), time.Duration(r.Elapsed).Round(time.Second), peak)
	return ew.err
}

// WriteJSON writes the whole report as one JSON document.
func (r *Report) WriteJSON(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	r = r.shown()
	return e.Encode(struct {
		*Report
		Verdict Status `json:"verdict"`
		Totals  Totals `json:"totals"`
	}{r, r.Verdict(), r.Totals()})
}

// JUnit: one test case per check. A failure is a <failure>; an
// inconclusive check is a <failure type="inconclusive"> (never green,
// and lvslab summary tells it apart); assumed and not checked results
// are <skipped>, with the reason.
type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Time     float64     `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr"`
	Time      float64       `xml:"time,attr"`
	Failure   *junitOutcome `xml:"failure,omitempty"`
	Skipped   *junitOutcome `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitOutcome struct {
	Type    string `xml:"type,attr,omitempty"`
	Message string `xml:"message,attr"`
}

// JUnitInconclusive is the failure type of an inconclusive check.
const JUnitInconclusive = "inconclusive"

// WriteJUnit writes the report as a JUnit XML file, one suite of checks.
func (r *Report) WriteJUnit(w io.Writer) error {
	r = r.shown()
	s := junitSuite{Name: "lvslab check", Tests: len(r.Results), Time: time.Duration(r.Elapsed).Seconds()}
	for _, res := range r.Results {
		c := junitCase{Name: res.ID + ": " + res.Title, ClassName: "lvslab.check." + res.Group,
			Time:      time.Duration(res.Elapsed).Seconds(),
			SystemOut: fmt.Sprintf("bound: %s\nmeasured: %s\nwhere: %s\n", dash(res.Bound), dash(res.Measured), dash(positions(res.Where)))}
		why := res.Title
		if res.Reason != "" {
			why += ": " + res.Reason
		}
		if len(res.RestsOn) > 0 {
			why += " [rests on " + strings.Join(res.RestsOn, ", ") + "]"
		}
		switch res.Status {
		case Fail:
			c.Failure = &junitOutcome{Type: "fail", Message: why}
			s.Failures++
		case Inconclusive:
			c.Failure = &junitOutcome{Type: JUnitInconclusive, Message: why}
			s.Failures++
		case Assumed, NotChecked:
			c.Skipped = &junitOutcome{Message: string(res.Status) + ": " + why}
			s.Skipped++
		}
		s.Cases = append(s.Cases, c)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	e := xml.NewEncoder(w)
	e.Indent("", "  ")
	if err := e.Encode(junitSuites{Suites: []junitSuite{s}}); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func positions(ps []Pos) string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return strings.Join(out, ", ")
}

func at(ps []Pos) string {
	if len(ps) == 0 {
		return ""
	}
	return " (" + positions(ps) + ")"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// errWriter keeps the first error of a run of writes.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

func (e *errWriter) printf(format string, a ...any) { fmt.Fprintf(e, format, a...) }

// Files a run writes into its output folder.
const (
	JSONFile  = "report.json"
	TextFile  = "report.txt"
	JUnitFile = "junit.xml"
)

// WriteFiles writes the report into dir as JSON, text and JUnit. It
// never writes through a symbolic link: a planted one is refused.
func (r *Report) WriteFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	if st, err := os.Lstat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("%s is not a folder (a symbolic link is refused): give --out a folder of your own", dir)
	}
	for name, write := range map[string]func(io.Writer) error{JSONFile: r.WriteJSON, TextFile: r.WriteText, JUnitFile: r.WriteJUnit} {
		path := filepath.Join(dir, name)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, 0o644)
		if err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		err = write(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	return nil
}
