//go:build linux

package check

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/lvslab/lvslab/bench"
	"github.com/lvslab/lvslab/harness/keepalived/conf"
)

// Failover: the pair's master crashes, comes back, stops gracefully and
// is reloaded, and each time the instances move (or stay) as keepalived
// 2.2.7's timers and the file's priorities say, within the bound those
// imply. Every instance of a sync group moves with the others.

// failoverIDs are the results of the failover group.
var failoverIDs = []string{"failover/crash", "failover/preempt", "failover/stop", "failover/reload"}

func (e *env) failover() []Result {
	if why := e.onePair(); why != "" {
		return notCheckedResults(GroupFailover, failoverIDs, why)
	}
	h, err := e.awaitHome()
	if err != nil {
		return notCheckedResults(GroupFailover, failoverIDs, err.Error())
	}
	var out []Result
	crash, crashed := e.failoverCrash(h)
	out = append(out, crash)
	if crashed == "" {
		out = append(out, notCheckedResults(GroupFailover, failoverIDs[1:2], "the crash did not happen")...)
	} else {
		out = append(out, e.failoverPreempt(h, crashed))
	}
	if err := e.restore(h); err != nil {
		return append(out, notCheckedResults(GroupFailover, failoverIDs[2:], err.Error())...)
	}
	out = append(out, e.failoverStop(h))
	if err := e.restore(h); err != nil {
		return append(out, notCheckedResults(GroupFailover, failoverIDs[3:], err.Error())...)
	}
	out = append(out, e.failoverReload(h))
	if err := e.restore(h); err != nil {
		out[len(out)-1].Reason = strings.TrimPrefix(out[len(out)-1].Reason+"; ", "; ") + "after it: " + err.Error()
	}
	return out
}

func notCheckedResults(group string, ids []string, why string) []Result {
	var out []Result
	for _, id := range ids {
		out = append(out, Result{ID: id, Group: group, Title: id, Status: NotChecked, Reason: why})
	}
	return out
}

// takeover is one instance's expected and seen move to a director.
type takeover struct {
	name   string
	to     string
	from   time.Time // the fault, or the instance's start
	window Window    // from then, lateness added
	took   time.Duration
	seen   bool
	// missing are VIPs the new master did not add.
	missing []string
}

// expectTakeovers predicts the window of each instance's move to `to`.
func (e *env) expectTakeovers(names []string, to string, window func(name string) Window) []*takeover {
	var out []*takeover
	for _, name := range names {
		out = append(out, &takeover{name: name, to: to, window: window(name)})
	}
	e.shareGroupWindows(out)
	return out
}

// shareGroupWindows gives a sync group's members their group's widest
// window: a member goes master when all want to (vrrp_sync.c).
func (e *env) shareGroupWindows(ts []*takeover) {
	own := map[string]Window{}
	for _, t := range ts {
		own[t.name] = t.window
	}
	for _, t := range ts {
		g, ok := syncGroupOf(e.confOf(t.to), t.name)
		if !ok {
			continue
		}
		var members []Window
		for _, m := range g.Members {
			if w, ok := own[m]; ok {
				members = append(members, w)
			}
		}
		t.window = unionWindow(members)
	}
	// keepalived 2.2.7 moves a sync group when every member wants to:
	// at the last member's timer, so each is timed from the last start.
	for _, t := range ts {
		g, ok := syncGroupOf(e.confOf(t.to), t.name)
		if !ok {
			continue
		}
		for _, o := range ts {
			if o.to == t.to && slices.Contains(g.Members, o.name) && o.from.After(t.from) {
				t.from = o.from
			}
		}
	}
}

// groupTook is when t's sync group moved: keepalived adds its members'
// VIPs one after another once the group goes, so the group is judged by
// its first member seen there, and an ungrouped instance by its own.
func (e *env) groupTook(t *takeover, ts []*takeover) time.Duration {
	g, ok := syncGroupOf(e.confOf(t.to), t.name)
	if !ok {
		return t.took
	}
	took := t.took
	for _, o := range ts {
		if o.seen && o.to == t.to && slices.Contains(g.Members, o.name) {
			took = min(took, o.took)
		}
	}
	return took
}

// confOf is a director node's file.
func (e *env) confOf(node string) *conf.File {
	for _, d := range e.b.Directors {
		if d.Node == node {
			return d.Conf
		}
	}
	return nil
}

// watchTakeovers waits for each instance's VIPs on its new master, from
// the fault at t0 (or each one's own start), and notes how long the
// first took.
func (e *env) watchTakeovers(ts []*takeover, t0 time.Time) {
	for _, t := range ts {
		if t.from.IsZero() {
			t.from = t0
		}
		t0 := t.from
		ctx, cancel := context.WithDeadline(e.ctx, t0.Add(t.window.Max+2*time.Second))
		first := time.Time{}
		for _, vip := range e.instanceVIPs(t.name) {
			ev, err := e.addrs.wait(ctx, t0, func(a addrEvent) bool { return a.Node == t.to && a.Addr == vip && a.New })
			if err != nil {
				t.missing = append(t.missing, vip.String())
				continue
			}
			if first.IsZero() || ev.At.Before(first) {
				first = ev.At
			}
		}
		cancel()
		if !first.IsZero() && len(t.missing) == 0 {
			t.seen, t.took = true, first.Sub(t0)
		}
	}
}

// judgeTakeovers turns takeovers into a result's bound, measurement and
// status: a bound below the timer lateness is not checked here.
func (e *env) judgeTakeovers(r *Result, ts []*takeover, unwidened []Window) {
	var seen, bad []string
	late := e.late.Worst()
	below := false
	// Instances with the same bound (a sync group's) share one line.
	var bounds []string
	named := map[string][]string{}
	for _, t := range ts {
		b := fmt.Sprintf("on %s: %s", e.nodeName(t.to), t.window)
		if named[b] == nil {
			bounds = append(bounds, b)
		}
		named[b] = append(named[b], t.name)
	}
	for i, b := range bounds {
		bounds[i] = strings.Join(named[b], ", ") + " " + b
	}
	for i, t := range ts {
		if i < len(unwidened) && unwidened[i].Max < late {
			below = true
		}
		switch {
		case !t.seen:
			seen = append(seen, fmt.Sprintf("%s: not on %s", t.name, e.nodeName(t.to)))
			bad = append(bad, fmt.Sprintf("%s did not move to %s within %s (VIPs missing there: %s)", t.name, e.nodeName(t.to), roundMs(t.window.Max+2*time.Second), strings.Join(t.missing, ", ")))
		default:
			seen = append(seen, fmt.Sprintf("%s on %s after %s", t.name, e.nodeName(t.to), roundMs(t.took)))
			if took := e.groupTook(t, ts); !t.window.Holds(took) {
				bad = append(bad, fmt.Sprintf("%s took %s, outside %s", t.name, roundMs(took), t.window))
			}
		}
		r.Elapsed = bench.Seconds(max(time.Duration(r.Elapsed), t.took))
	}
	r.Bound, r.Measured = strings.Join(bounds, "; "), strings.Join(seen, "; ")
	switch {
	case slices.ContainsFunc(ts, func(t *takeover) bool { return !t.seen }):
		r.Status, r.Reason = Fail, strings.Join(bad, "; ")
	case below:
		r.Status, r.Reason = NotChecked, fmt.Sprintf("not checked here, on this host: the bound is below the %s this host's timers ran late", roundMs(late))
	case len(bad) > 0:
		r.Status, r.Reason = Fail, strings.Join(bad, "; ")
	default:
		r.Status = Pass
	}
}

// failoverCrash crashes the director that is master of most instances,
// as the ha suite crashes one (keepalived stopped at once, links down,
// then killed), and times the other's takeover of each instance: the
// backup's Master_Down timer, restarted by the master's last advert,
// fires Master_Down_Interval after it. It returns the crashed node.
func (e *env) failoverCrash(h home) (Result, string) {
	master, names := e.mainMaster(h)
	to := e.other(master)
	r := Result{ID: "failover/crash", Group: GroupFailover,
		Title: fmt.Sprintf("%s crashes (keepalived stopped at once, links down, killed): %s takes over %s", e.nodeName(master), e.nodeName(to), strings.Join(names, ", "))}
	late := e.late.Worst()
	var unwidened []Window
	ts := e.expectTakeovers(names, to, func(name string) Window {
		s, _ := sideOf(e.sides(name, nil, master), to)
		w := s.Timing.masterDownWindow(s.Priority)
		w.Formula = "Master_Down_Interval of " + e.nodeName(to) + " after the last advert: " + w.Formula
		unwidened = append(unwidened, w)
		return widenLate(w, late)
	})
	for _, name := range names {
		r.Where = append(r.Where, e.instancePositions(name)...)
	}
	r.RestsOn = e.d.RestsOn(e.instanceSubjects(names...)...)
	before := e.probeVIPs(names, 4)
	e.step("crashing %s", e.nodeName(master))
	t0, err := e.daemons[master].Crash()
	if err != nil {
		r.Status, r.Reason = Inconclusive, err.Error()
		return r, ""
	}
	e.watchTakeovers(ts, t0)
	e.judgeTakeovers(&r, ts, unwidened)
	reach, failed, subjects := reachAfter(before, e.probeVIPs(names, 10))
	if reach != "" {
		r.Measured += "; " + reach
	}
	if len(failed) > 0 && r.Status != Fail {
		r.Status, r.Reason = Fail, "through the new master: "+strings.Join(failed, "; ")
	}
	r.RestsOn = e.d.RestsOn(append(e.instanceSubjects(names...), subjects...)...)
	return r, master
}

// instancePositions are an instance's lines in both files.
func (e *env) instancePositions(name string) []Pos {
	var out []Pos
	for _, d := range e.b.Directors {
		if in, ok := instance(d.Conf, name); ok {
			out = append(out, posOf(in.Pos))
		}
	}
	return out
}

// reachProbe is what a few requests through one VIP saw.
type reachProbe struct {
	key              string
	answered, sent   int64
	err              error
	errors, subjects []string
}

// probeVIPs sends n requests through each VIP of the instances that a
// TCP service listens on.
func (e *env) probeVIPs(names []string, n int64) []reachProbe {
	var out []reachProbe
	for _, s := range e.d.Services {
		if !s.Checked || s.Protocol != "tcp" || len(s.Addrs) == 0 {
			continue
		}
		a := s.Addrs[0]
		if !slices.ContainsFunc(names, func(n string) bool { return slices.Contains(e.instanceVIPs(n), a) }) {
			continue
		}
		p := reachProbe{key: netip.AddrPortFrom(a, s.Port).String(), sent: n}
		res, err := e.reachLoad(target{proto: "tcp", addr: netip.AddrPortFrom(a, s.Port)}, n)
		if err != nil {
			p.err = err
		} else {
			p.answered, p.sent = res.Successes, res.Requests
			if res.Successes < res.Requests {
				p.errors = []string{res.Errors}
			}
		}
		for _, rr := range s.Reals {
			p.subjects = append(p.subjects, subjReal(rr.Addr), subjApp(rr.Addr, rr.Port))
		}
		out = append(out, p)
	}
	return out
}

// reachAfter judges requests through the new master against those
// before the fault: a VIP that answered nothing before cannot fail the
// failover (the reach group says why).
func reachAfter(before, after []reachProbe) (measured string, failed, subjects []string) {
	var parts []string
	for _, p := range after {
		subjects = append(subjects, p.subjects...)
		if p.err != nil {
			parts = append(parts, fmt.Sprintf("%s: %v", p.key, p.err))
		} else {
			parts = append(parts, fmt.Sprintf("%d of %d requests through %s answered", p.answered, p.sent, p.key))
		}
		if p.err == nil && p.answered == p.sent {
			continue
		}
		i := slices.IndexFunc(before, func(b reachProbe) bool { return b.key == p.key })
		if i >= 0 && before[i].answered == 0 {
			parts[len(parts)-1] += " (none before the fault either: see reach)"
			continue
		}
		why := strings.Join(p.errors, ", ")
		if p.err != nil {
			why = p.err.Error()
		}
		failed = append(failed, fmt.Sprintf("%s: %d of %d requests failed (%s)", p.key, p.sent-p.answered, p.sent, why))
	}
	return strings.Join(parts, ", "), failed, subjects
}
