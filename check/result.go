//go:build linux

package check

import (
	"fmt"
	"slices"
	"strings"

	"github.com/lvslab/lvslab/bench"
)

// Status is the outcome of one check.
type Status string

const (
	// Pass: measured, within its bound, resting on no assumption.
	Pass Status = "pass"
	// Fail: measured, and outside its bound or wrong.
	Fail Status = "fail"
	// Assumed: it held, but only on a fact the lab assumed (an interface,
	// an address, what the application answers): not a pass.
	Assumed Status = "assumed"
	// NotChecked: the lab cannot check it (a checker it cannot emulate, a
	// bound below what this host's timers can measure); Reason says why.
	NotChecked Status = "not checked"
	// Inconclusive: measured, but not reliably enough to judge.
	Inconclusive Status = "inconclusive"
)

// Pos is a place in an input file, as every finding names one.
type Pos struct {
	File string `json:"file"`
	Line int    `json:"line"`
}

func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d", p.File, p.Line)
}

// Result is one check: what it checked, where the file says so, the bound
// derived from the file beside the value measured, and its outcome.
type Result struct {
	// ID is stable from run to run ("election/VI_1",
	// "health/192.0.2.11:80/refused"), so runs and mutations compare.
	ID    string `json:"id"`
	Group string `json:"group"`
	Title string `json:"title"`
	Where []Pos  `json:"where,omitempty"`
	// Bound is what the file implies, with the defaults of the keepalived
	// in use named ("within 3.61 s: 3 × advert_int 1 s + skew 0.61 s");
	// Measured is what the lab saw.
	Bound    string `json:"bound,omitempty"`
	Measured string `json:"measured,omitempty"`
	Status   Status `json:"status"`
	// Reason says why it failed, was not checked or is inconclusive.
	Reason string `json:"reason,omitempty"`
	// RestsOn names the assumptions (Assumption.ID) the outcome rests on.
	RestsOn []string `json:"rests_on,omitempty"`
	// Elapsed is how long the check took, for the wall-time budget.
	Elapsed bench.Seconds `json:"elapsed_s"`
}

// Assumption is a fact the lab needed and the operator did not give: an
// interface, an address, a route, what the application answers.
type Assumption struct {
	ID    string `json:"id"`
	Fact  string `json:"fact"`
	Where []Pos  `json:"where,omitempty"`
	// Give says what input would replace it ("--capture", "--serve").
	Give string `json:"give"`
}

// Change is one line of the operator's file that the copy keepalived
// runs in the lab has otherwise: only what keeps keepalived inside the
// lab, and scripts replaced by stubs.
type Change struct {
	Where Pos    `json:"where"`
	Was   string `json:"was"`
	Now   string `json:"now"`
	Why   string `json:"why"`
}

// Report is a whole check run.
type Report struct {
	Inputs []string `json:"inputs"`
	// Remap is the mapping the lab ran on (--remap): the writers show
	// every address in the operator's own again.
	Remap *Remap `json:"remap,omitempty"`
	// Keepalived is the version line of the keepalived that ran, Kernel
	// the release of the kernel under test, Where "host" or "vm".
	Keepalived string `json:"keepalived,omitempty"`
	Kernel     string `json:"kernel"`
	Where      string `json:"where"`
	// Lateness is how late this host's timers ran (measured in the run);
	// it is added to every bound.
	Lateness    bench.Seconds `json:"timer_lateness_s"`
	Assumptions []Assumption  `json:"assumptions"`
	Changes     []Change      `json:"changes"`
	Results     []Result      `json:"results"`
	Elapsed     bench.Seconds `json:"elapsed_s"`
	// PeakMemory is the most memory lvslab held at once in the run (its
	// peak resident set; keepalived and the kernel's IPVS table aside).
	PeakMemory int64 `json:"peak_memory_bytes,omitempty"`
}

// Totals count results by status.
type Totals map[Status]int

// Totals counts the report's results by status.
func (r *Report) Totals() Totals {
	t := Totals{}
	for _, res := range r.Results {
		t[res.Status]++
	}
	return t
}

func (t Totals) String() string {
	var parts []string
	for _, s := range []Status{Pass, Fail, Assumed, NotChecked, Inconclusive} {
		parts = append(parts, fmt.Sprintf("%d %s", t[s], s))
	}
	return strings.Join(parts, ", ")
}

// Verdict is the run's outcome: Fail if any check failed, else
// Inconclusive if any was, else Pass. Assumed and not checked results are
// listed, never counted as passes.
func (r *Report) Verdict() Status {
	t := r.Totals()
	switch {
	case t[Fail] > 0:
		return Fail
	case t[Inconclusive] > 0 || len(r.Results) == 0:
		return Inconclusive
	}
	return Pass
}

// Result returns the result of that ID, if the run has one.
func (r *Report) Result(id string) (Result, bool) {
	i := slices.IndexFunc(r.Results, func(res Result) bool { return res.ID == id })
	if i < 0 {
		return Result{}, false
	}
	return r.Results[i], true
}
