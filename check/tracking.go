//go:build linux

package check

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lvslab/lvslab/bench"
	"github.com/lvslab/lvslab/harness/keepalived/conf"
)

// Tracking: each vrrp_script runs in the lab as a stub that the check
// turns bad and then good again, on one director at a time. The
// instances tracking it change priority or enter FAULT as keepalived
// 2.2.7 does, within the script's fall (rise) runs, and the master moves
// when the predicted priorities say it should. keepalived notifies a
// priority change only with notify_priority_changes, which the file
// does not get: the change is read from its log.

// priorityLine is keepalived's log line for a new effective priority
// (vrrp_track.c vrrp_set_effective_priority).
var priorityLine = regexp.MustCompile(`\((\S+)\) Changing effective priority from (\d+) to (\d+)`)

// scriptLine is keepalived's log line for a vrrp_script's new state
// (vrrp_scheduler.c vrrp_script_child_thread; vrrp_track.c on reload).
var scriptLine = regexp.MustCompile(`VRRP_Script\((\S+)\) (succeeded|failed|timed_out|considered unsuccessful)`)

// scriptState is a vrrp_script's state on a node as keepalived last
// logged it since it started: succeeded, failed, timed_out, considered
// unsuccessful; "" before its first result.
func (e *env) scriptState(node, script string) string {
	log := e.daemons[node].Log()
	if i := strings.LastIndex(log, "Starting Keepalived"); i >= 0 {
		log = log[i:]
	}
	state := ""
	for _, m := range scriptLine.FindAllStringSubmatch(log, -1) {
		if m[1] == script {
			state = m[2]
		}
	}
	return state
}

// timedOut says whether a log line tells of keepalived killing a run of
// the script for outliving its timeout (vrrp_scheduler.c).
func timedOut(line, script string) bool {
	return strings.Contains(line, "VRRP_Script("+script+") timed_out") ||
		strings.Contains(line, "VRRP_Script("+script+") failed (due to signal") ||
		strings.Contains(line, "Track script "+script+" is being timed out")
}

// awaitScriptGood waits until keepalived counts the script good on node,
// up to d, and returns its last state.
func (e *env) awaitScriptGood(node, script string, d time.Duration) string {
	deadline := time.Now().Add(d)
	for {
		st := e.scriptState(node, script)
		if st == "succeeded" || time.Now().After(deadline) || sleepCtx(e.ctx, 100*time.Millisecond) != nil {
			return st
		}
	}
}

func (e *env) tracking() []Result {
	var out []Result
	var h home
	waited := false
	for _, d := range e.b.Directors {
		for _, st := range e.files[d.Node].Stubs {
			switch {
			case st.Keyword == "process":
				out = append(out, e.processResults(d, st)...)
			case st.Keyword == "script" && strings.HasPrefix(st.Name, "vrrp_script "):
				if !waited && e.onePair() == "" {
					var err error
					if h, err = e.awaitHome(); err != nil {
						return append(out, Result{ID: "tracking", Group: GroupTracking, Title: "tracked scripts", Status: NotChecked, Reason: err.Error()})
					}
					waited = true
				}
				out = append(out, e.toggleScript(h, d, st)...)
			}
		}
	}
	if len(out) == 0 {
		out = append(out, Result{ID: "tracking", Group: GroupTracking, Title: "tracked scripts and processes", Status: NotChecked,
			Reason: "the files track no vrrp_script and no track_process"})
	}
	return out
}

// processResults: track_process cannot be checked in a lab.
func (e *env) processResults(d *Director, st Stub) []Result {
	name := strings.TrimPrefix(st.Name, "vrrp_track_process ")
	var out []Result
	for _, in := range d.Conf.Instances {
		tracks := slices.ContainsFunc(in.TrackProcesses, func(t conf.Track) bool { return t.Name == name })
		if g, ok := syncGroupOf(d.Conf, in.Name); ok {
			tracks = tracks || slices.ContainsFunc(g.TrackProcesses, func(t conf.Track) bool { return t.Name == name })
		}
		if tracks {
			out = append(out, Result{ID: fmt.Sprintf("tracking/%s/%s/%s", name, in.Name, d.Name), Group: GroupTracking,
				Title: fmt.Sprintf("%s tracks process %s on %s", in.Name, name, d.Name), Where: []Pos{st.Where, posOf(in.Pos)}, Status: NotChecked,
				Reason: "track_process: keepalived in a network namespace gets no process events (keepalived issues 1469, 2434), and the lab runs it in one"})
		}
	}
	return out
}

// trackCase is one instance tracking the toggled script.
type trackCase struct {
	name               string
	good, bad          instancePrediction
	where              []Pos
	bounds, seen, errs []string
	below              bool
	// ignored says why keepalived drops the instance's tracker ("" if it
	// keeps it).
	ignored string
}

// toggleScript turns one director's stub of a vrrp_script bad, then good
// again, and checks every instance tracking it there.
func (e *env) toggleScript(h home, d *Director, st Stub) []Result {
	script := strings.TrimPrefix(st.Name, "vrrp_script ")
	i := slices.IndexFunc(d.Conf.Scripts, func(s conf.Script) bool { return s.Name == script })
	if i < 0 {
		return nil
	}
	sc := d.Conf.Scripts[i]
	cases := trackCases(d.Conf, script)
	if len(cases) == 0 {
		return []Result{{ID: fmt.Sprintf("tracking/%s/-/%s", script, d.Name), Group: GroupTracking, Title: "vrrp_script " + script + " on " + d.Name,
			Where: []Pos{posOf(sc.Pos)}, Status: NotChecked, Reason: "no vrrp_instance tracks it: keepalived drops it"}}
	}
	if !slices.ContainsFunc(cases, func(c *trackCase) bool { return c.ignored == "" }) {
		return e.scriptIgnored(cases, script, d)
	}
	timing := scriptTimingOf(sc)
	timeout := timing.interval
	if sc.Timeout.Set && sc.Timeout.Value > 0 {
		timeout = sc.Timeout.Value
	}
	late := e.late.Worst()
	// The stub starts good; keepalived must have counted it so, and the
	// pair settled on the priorities that gives, before the toggle.
	if last := e.awaitScriptGood(d.Node, script, time.Duration(timing.rise)*timing.interval+timeout+late+time.Second); last != "succeeded" {
		return e.scriptInconclusive(cases, script, d, fmt.Sprintf("keepalived never counted the stub good before the toggle (its last word: %q): "+
			"this host ran it slower than its timeout %s (a fork and exec of /bin/sh under emulation)", "VRRP_Script("+script+") "+last, timeout))
	}
	masters := map[string]string{}
	if h != nil {
		if !e.waitHome(h, e.longestMasterDown()+late+time.Second) {
			_, why := e.atRest()
			return e.scriptInconclusive(cases, script, d, "the pair is not at rest before the toggle: "+why)
		}
		for name, node := range h {
			masters[name] = node
		}
	}
	logs := map[string]string{}
	for node, k := range e.daemons {
		logs[node] = k.Files.Log
	}
	tail := tailLogs(e.ctx, logs)
	defer tail.close()
	out, err := e.runToggle(cases, d, st, script, timing, tail, masters)
	if l, ok := tail.wait(doneCtx(), time.Time{}, func(l logLine) bool { return timedOut(l.Text, script) }); ok && err == nil {
		out = e.scriptInconclusive(cases, script, d, fmt.Sprintf("keepalived killed a stub of %s for outliving its timeout %s (%s: %s): this host ran it too slowly to judge",
			script, timeout, e.nodeName(l.Node), l.Text))
	}
	if h != nil {
		if err := e.restore(h); err != nil {
			for i := range out {
				out[i].Reason = strings.TrimPrefix(out[i].Reason+"; ", "; ") + "after it: " + err.Error()
			}
		}
	}
	return out
}

// scriptIgnored checks a script every tracker of which keepalived drops:
// it says so in its log when it reads the file (vrrp.c
// vrrp_complete_instance), and runs the script no more.
func (e *env) scriptIgnored(cases []*trackCase, script string, d *Director) []Result {
	log := e.daemons[d.Node].Log()
	var out []Result
	for _, c := range cases {
		r := Result{ID: fmt.Sprintf("tracking/%s/%s/%s", script, c.name, d.Name), Group: GroupTracking, Where: c.where,
			Title: fmt.Sprintf("vrrp_script %s on %s does not count for %s: %s", script, d.Name, c.name, c.ignored),
			Bound: fmt.Sprintf("keepalived logs \"(%s) ignoring tracked script %s with weights due to …\"", c.name, script)}
		line := fmt.Sprintf("(%s) ignoring tracked script %s with weights due to ", c.name, script)
		if i := strings.Index(log, line); i >= 0 {
			end := strings.IndexByte(log[i:], '\n')
			r.Status, r.Measured = Pass, "logged: "+strings.TrimSpace(log[i:i+max(end, len(line))])
		} else {
			r.Status, r.Reason, r.Measured = Fail, "keepalived kept the tracker the lab predicted it drops", "no such line in its log"
		}
		out = append(out, r)
	}
	return out
}

// trackCases are the instances of a director's file that a script's
// failure touches: those tracking it (even if keepalived drops the
// tracker), and those a sync group takes to FAULT with them.
func trackCases(f *conf.File, script string) []*trackCase {
	isBad := func(s string) bool { return s == script }
	good, bad := predictDirector(f, nil), predictDirector(f, isBad)
	var cases []*trackCase
	for _, in := range f.Instances {
		kept, dropped := scriptTrackers(f, in)
		where := []Pos{posOf(in.Pos)}
		for _, t := range kept {
			if t.Script == script {
				where = append(where, t.Pos)
			}
		}
		ignored := ""
		for _, t := range dropped {
			if t.Script == script {
				where, ignored = append(where, t.Pos), t.Why
			}
		}
		if len(where) > 1 || good[in.Name].Fault != bad[in.Name].Fault {
			cases = append(cases, &trackCase{name: in.Name, good: good[in.Name], bad: bad[in.Name], where: where, ignored: ignored})
		}
	}
	for _, s := range f.Scripts {
		if s.Name == script {
			for _, c := range cases {
				c.where = append([]Pos{posOf(s.Pos)}, c.where...)
			}
		}
	}
	return cases
}

// runToggle turns the stub bad, observes, turns it good, observes, and
// judges each case.
func (e *env) runToggle(cases []*trackCase, d *Director, st Stub, script string, timing scriptTiming, tail *logTail, masters map[string]string) ([]Result, error) {
	late := e.late.Worst()
	isBad := func(s string) bool { return s == script }
	state := filepath.Join(e.files[d.Node].States, st.ID)
	e.step("turning vrrp_script %s bad on %s", script, d.Name)
	t0 := time.Now()
	if err := os.WriteFile(state, []byte("1\n"), 0o644); err != nil {
		return e.scriptInconclusive(cases, script, d, err.Error()), err
	}
	fail := timing.failWindow().Widen(time.Duration(timing.fall) * late)
	for _, c := range cases {
		masters[c.name] = e.observePhase(c, d.Node, script, tail, t0, fail, c.good, c.bad, masters[c.name], map[string]func(string) bool{d.Node: isBad}, "failing")
	}
	e.step("turning vrrp_script %s good again on %s", script, d.Name)
	t2 := time.Now()
	if err := os.Remove(state); err != nil {
		return e.scriptInconclusive(cases, script, d, err.Error()), err
	}
	recover := timing.recoverWindow().Widen(time.Duration(timing.rise) * late)
	for _, c := range cases {
		e.observePhase(c, d.Node, script, tail, t2, recover, c.bad, c.good, masters[c.name], nil, "good again")
	}
	var out []Result
	for _, c := range cases {
		r := Result{ID: fmt.Sprintf("tracking/%s/%s/%s", script, c.name, d.Name), Group: GroupTracking, Where: c.where,
			Title: fmt.Sprintf("vrrp_script %s failing on %s, then good again: %s %s", script, d.Name, c.name, effectWords(c.good, c.bad)),
			Bound: strings.Join(c.bounds, "; "), Measured: strings.Join(c.seen, "; "),
			RestsOn: e.d.RestsOn(e.instanceSubjects(c.name)...), Elapsed: bench.Seconds(time.Since(t0))}
		switch {
		case len(c.errs) > 0:
			r.Status, r.Reason = Fail, strings.Join(c.errs, "; ")
		case c.below:
			r.Status, r.Reason = NotChecked, fmt.Sprintf("not checked here, on this host: a bound is below the %s this host's timers ran late", roundMs(late))
		default:
			r.Status = Pass
		}
		out = append(out, r)
	}
	return out, nil
}

// scriptInconclusive are the results of a toggle that could not be
// judged.
func (e *env) scriptInconclusive(cases []*trackCase, script string, d *Director, why string) []Result {
	var out []Result
	for _, c := range cases {
		out = append(out, Result{ID: fmt.Sprintf("tracking/%s/%s/%s", script, c.name, d.Name), Group: GroupTracking, Where: c.where,
			Title:  fmt.Sprintf("vrrp_script %s failing on %s, then good again: %s %s", script, d.Name, c.name, effectWords(c.good, c.bad)),
			Status: Inconclusive, Reason: why, Measured: strings.Join(append(c.seen, c.errs...), "; ")})
	}
	return out
}

// effectWords says what failing does to an instance.
func effectWords(good, bad instancePrediction) string {
	switch {
	case bad.Fault && !good.Fault:
		return "enters FAULT"
	case bad.Priority != good.Priority:
		return fmt.Sprintf("changes priority %d → %d", good.Priority, bad.Priority)
	}
	return "keeps priority " + strconv.Itoa(good.Priority) + " (the script does not count)"
}
