//go:build linux

package check

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lvslab/lvslab/bench"
	"github.com/lvslab/lvslab/harness"
	"github.com/lvslab/lvslab/harness/ipvsadm"
)

// healthSlack is how long past a bound a check still waits before it
// calls the server late: a little, so that a run never waits much longer
// than the sum of its bounds.
const healthSlack = time.Second

// runCase puts one real server through one fault and back, and judges
// the director that holds its service; the others are shown beside it.
func (e *env) runCase(c judged, watches map[string]*tableWatch) Result {
	started := time.Now()
	r := Result{ID: c.ID, Group: GroupHealth, Where: c.Where, Title: c.title(e)}
	r.RestsOn = e.d.RestsOn(e.healthSubjects(c.Real.Addr, c.Real.Port, c.Target.Addr.Port())...)
	defer func() { r.Elapsed = bench.Seconds(time.Since(started)) }()
	late := e.late.Worst()
	var took time.Duration
	var tookWords string
	bounds := func(setup, clearing time.Duration) (Window, Window) {
		down := c.Down.Widen(late).perCheck(took, tookWords).plus(setup+tablePoll, "putting the fault in place and reading the table")
		up := c.Up.Widen(late).perCheck(took, tookWords).plus(clearing+tablePoll, "clearing the fault and reading the table")
		return down, up
	}
	down, up := bounds(0, 0)
	r.Bound = c.bound(down, up)
	why := c.Why
	if why == "" && e.nodeOf(c.Target.Addr.Addr()) == "" {
		why = fmt.Sprintf("no node of the lab holds %s", c.Target.Addr.Addr())
	}
	if why == "" && c.Fault == faultScript {
		why = e.scriptMissing(c)
	}
	if why == "" {
		why = e.notListening(c)
	}
	if why == "" && min(c.Down.Max, c.Up.Max) < late {
		why = fmt.Sprintf("not checked here, on this host: timers ran up to %s late, more than the bound", roundMs(late))
	}
	if why != "" {
		r.Status, r.Reason = NotChecked, why
		return r
	}
	holder := watches[c.holder]
	isLive := func(s realState) bool { return s.live() }
	if snap, ok := waitFor(e.ctx, holder, time.Now(), up.Max+healthSlack, c.Service, c.Real, isLive); !ok {
		// The operator's file and application, as the lab runs them, never
		// put it in rotation: that is a finding, not a gap of the lab.
		r.Status = Fail
		r.Reason = fmt.Sprintf("%s was not live in %s's table before the fault (%s): its checker fails with no fault at all (see the table check and the director's keepalived log)",
			netip.AddrPortFrom(c.Real.Addr, c.Real.Port), e.nodeName(c.holder), stateOf(snap.table, c.Service, c.Real.Addr, c.Real.Port))
		for _, d := range e.b.Directors {
			if d.Node == c.holder {
				r.Reason += vipSourceHint(d.Conf, c.healthCase)
			}
		}
		return r
	}

	took, tookWords = e.checkDuration(c)
	// Waits allow twice the lateness seen so far, for timers that run
	// later still; the bound judged is widened by the lateness seen by
	// the end.
	before := map[string]realState{}
	for node, w := range watches {
		before[node] = stateOf(w.now().table, c.Service, c.Real.Addr, c.Real.Port)
	}
	t0 := time.Now()
	clear, err := e.inject(c)
	setup := time.Since(t0)
	if err != nil {
		if clear != nil {
			clear()
		}
		r.Status, r.Reason = Inconclusive, "could not put the fault in place: "+err.Error()
		return r
	}
	outs := e.watchAll(c, watches, t0, c.Down.Widen(2*late).perCheck(took, "").Max+setup+healthSlack, func(s realState) bool { return !s.live() })
	tr := time.Now()
	clearErr := clear()
	clearing := time.Since(tr)
	var backs map[string]snapshot
	if _, ok := outs[c.holder]; ok && clearErr == nil {
		backs = e.watchAll(c, watches, tr, c.Up.Widen(2*late).perCheck(took, "").Max+clearing+healthSlack, isLive)
	}
	late = e.late.Worst()
	down, up = bounds(setup, clearing)
	r.Bound = c.bound(down, up)

	r.Measured = e.healthMeasured(c, before, outs, backs, t0, tr)
	out, outOK := outs[c.holder]
	back, backOK := backs[c.holder]
	holderName := e.nodeName(c.holder)
	outState := stateOf(out.table, c.Service, c.Real.Addr, c.Real.Port)
	backState := stateOf(back.table, c.Service, c.Real.Addr, c.Real.Port)
	switch {
	case !outOK:
		r.Status, r.Reason = Fail, fmt.Sprintf("still live in %s's table %s after the fault, past the bound", holderName, roundMs(time.Since(t0)))
	case !down.Holds(out.at.Sub(t0)):
		r.Status, r.Reason = Fail, fmt.Sprintf("out of %s's table after %s, outside %s", holderName, roundMs(out.at.Sub(t0)), down)
	case c.Inhibit && !outState.In:
		r.Status, r.Reason = Fail, "removed from the table; inhibit_on_failure keeps it there with weight 0"
	case !c.Inhibit && outState.In:
		r.Status, r.Reason = Fail, "left at weight 0, not removed, though inhibit_on_failure is not set"
	case clearErr != nil:
		r.Status, r.Reason = Inconclusive, "could not clear the fault: "+clearErr.Error()
	case !backOK:
		r.Status, r.Reason = Fail, fmt.Sprintf("not back in %s's table %s after the fault cleared, past the bound", holderName, roundMs(time.Since(tr)))
	case !up.Holds(back.at.Sub(tr)):
		r.Status, r.Reason = Fail, fmt.Sprintf("back in %s's table after %s, outside %s", holderName, roundMs(back.at.Sub(tr)), up)
	case backState.Weight != c.Real.Weight:
		r.Status, r.Reason = Fail, fmt.Sprintf("back with weight %d, the file says %d", backState.Weight, c.Real.Weight)
	default:
		r.Status = Pass
	}
	return r
}

// bound words the windows of a case.
func (c judged) bound(down, up Window) string {
	if c.Inhibit {
		return fmt.Sprintf("weight 0 (inhibit_on_failure) %s; back %s", down, up)
	}
	return fmt.Sprintf("out %s; back %s", down, up)
}

// title says what a case checks.
func (c judged) title(e *env) string {
	var kinds []string
	for _, ch := range c.Checkers {
		kinds = append(kinds, ch.Kind)
	}
	what := map[string]string{
		faultRefused:     "its port refuses connections",
		faultBlackholed:  "it drops every packet to its port",
		faultWrongStatus: "it answers the checked paths with a status the checker rejects",
		faultUnreachable: "every director routes it as unreachable (keepalived issue 2115)",
		faultScript:      "the MISC_CHECK script fails",
	}[c.Fault]
	if c.Fault == faultBlackholed && c.Target.Proto == "icmp" {
		what = "it drops every echo request"
	}
	out := "leaves"
	if c.Inhibit {
		out = "goes to weight 0 (inhibit_on_failure)"
	}
	name := netip.AddrPortFrom(c.Real.Addr, c.Real.Port).String()
	if c.Real.Port == 0 {
		name = c.Real.Addr.String() // a firewall mark's real server
	}
	return fmt.Sprintf("%s (%s, %s): when %s, it %s in %s's table within the file's window, and comes back after the recovery checks",
		name, strings.Join(kinds, ", "), c.Service.Key, what, out, e.nodeName(c.holder))
}

// watchAll waits at most d after since for the judged director's table
// to hold the real server as match wants, and notes which of the others
// saw the same by then: they are shown beside it, not waited for.
func (e *env) watchAll(c judged, watches map[string]*tableWatch, since time.Time, d time.Duration, match func(realState) bool) map[string]snapshot {
	var mu sync.Mutex
	var wg sync.WaitGroup
	seen := map[string]snapshot{}
	others, stop := context.WithCancel(e.ctx)
	for node, w := range watches {
		if node == c.holder {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if snap, ok := waitFor(others, w, since, d, c.Service, c.Real, match); ok {
				mu.Lock()
				seen[node] = snap
				mu.Unlock()
			}
		}()
	}
	snap, ok := waitFor(e.ctx, watches[c.holder], since, d, c.Service, c.Real, match)
	// One more read, so that another director that changed at the same
	// instant is seen to.
	time.Sleep(tablePoll)
	stop()
	wg.Wait()
	if ok {
		seen[c.holder] = snap
	}
	return seen
}

// healthMeasured says when each director took the server out and put it
// back, the judged one first.
func (e *env) healthMeasured(c judged, before map[string]realState, outs, backs map[string]snapshot, t0, tr time.Time) string {
	nodes := []string{c.holder}
	for _, d := range e.b.Directors {
		if d.Node != c.holder {
			nodes = append(nodes, d.Node)
		}
	}
	var parts []string
	for i, n := range nodes {
		var p string
		if out, ok := outs[n]; !before[n].live() {
			p = fmt.Sprintf("%s before the fault (back from the one before not yet)", before[n])
		} else if ok {
			p = fmt.Sprintf("out (%s) after %s", stateOf(out.table, c.Service, c.Real.Addr, c.Real.Port), roundMs(out.at.Sub(t0)))
			if back, ok := backs[n]; ok {
				p += fmt.Sprintf(", back %s after it cleared", roundMs(back.at.Sub(tr)))
			} else {
				p += ", not back within the bound"
			}
		} else if i == 0 {
			p = "stayed live"
		} else {
			p = "still live then"
		}
		switch {
		case i == 0:
			p = e.nodeName(n) + ": " + p
		case c.haSuspend(e, n):
			p = e.nodeName(n) + " (ha_suspend: no checker without the address): " + p
		default:
			p = e.nodeName(n) + " (not judged): " + p
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, "; ")
}

func (c judged) haSuspend(e *env, node string) bool {
	vs, ok := e.virtualServer(node, c.Service)
	return ok && vs.HASuspend.Value
}

// inject puts the fault in place and returns what clears it.
func (e *env) inject(c judged) (func() error, error) {
	node := e.nodeOf(c.Target.Addr.Addr())
	n := e.lab.Node(node)
	app := e.apps[node]
	proto, port := c.Target.Proto, c.Target.Addr.Port()
	switch c.Fault {
	case faultRefused:
		ap, ok := e.appPort(node, proto, port)
		if !ok {
			return nil, fmt.Errorf("the application does not listen on %s/%d", proto, port)
		}
		return func() error { return app.Open(ap) }, app.Close(ap)
	case faultBlackholed:
		return func() error { return harness.ClearDropInbound(n, proto, port) }, harness.DropInbound(n, proto, port)
	case faultWrongStatus:
		app.SetAnswer(func(local netip.Addr, p uint16, path string) (int, string) {
			if st, ok := c.Answers[path]; ok && p == port && (local == c.Target.Addr.Addr() || !local.IsValid()) {
				return st, "lvslab: a status the checker rejects\n"
			}
			return e.answer(local, p, path)
		})
		return func() error { app.SetAnswer(e.answer); return nil }, nil
	case faultUnreachable:
		var errs []error
		for _, d := range e.lab.Directors() {
			errs = append(errs, harness.RouteUnreachable(d, c.Target.Addr.Addr()))
		}
		return func() error {
			var errs []error
			for _, d := range e.lab.Directors() {
				errs = append(errs, harness.ClearRouteUnreachable(d, c.Target.Addr.Addr()))
			}
			return errors.Join(errs...)
		}, errors.Join(errs...)
	case faultScript:
		return func() error { return e.setScript(c, "0") }, e.setScript(c, "1")
	}
	return nil, fmt.Errorf("fault %q", c.Fault)
}

// appPort is how the application listens on a port of a real-server
// node, and whether it does at all (a serve entry may say it refuses).
func (e *env) appPort(node, proto string, port uint16) (harness.AppPort, bool) {
	i := slices.IndexFunc(e.d.Servers, func(sp *ServerPlan) bool { return sp.Node == node })
	if i < 0 || proto == "sctp" || !slices.Contains(e.d.Servers[i].Listen, ipvsadm.Endpoint{Protocol: proto, Port: port}) {
		return harness.AppPort{}, false
	}
	a := e.d.Servers[i].Addrs[0]
	entry, _ := e.b.Serve.For(a, port)
	if entry.Refuses {
		return harness.AppPort{}, false
	}
	return harness.AppPort{Protocol: proto, Port: port, TLS: entry.TLS || e.probedByTLS(a, port)}, true
}

// notListening says why the lab's application does not answer a
// checker's port, if it does not: the lab opens only the ports the
// services send to, and none that a serve entry says refuses.
func (e *env) notListening(c judged) string {
	if c.Fault == faultScript || c.Target.Proto == "icmp" {
		return ""
	}
	node, port := e.nodeOf(c.Target.Addr.Addr()), c.Target.Addr.Port()
	if _, ok := e.appPort(node, c.Target.Proto, port); ok {
		return ""
	}
	if entry, ok := e.b.Serve.For(c.Target.Addr.Addr(), port); ok && entry.Refuses {
		return fmt.Sprintf("the serve file says %s refuses connections (%s): its checker never passes", c.Target.Addr, entry.Pos())
	}
	var ports []string
	for _, sp := range e.d.Servers {
		if sp.Node == node {
			for _, l := range sp.Listen {
				ports = append(ports, fmt.Sprintf("%s/%d", l.Protocol, l.Port))
			}
		}
	}
	return fmt.Sprintf("the checker probes %s/%d, where the lab's application does not listen: it opens only the ports the services send to (%s)",
		c.Target.Proto, port, strings.Join(ports, ", "))
}

// setScript sets the exit status of the MISC_CHECK's stub, in every
// director that runs it: the script judges the real server, so it fails
// on both.
func (e *env) setScript(c judged, status string) error {
	var errs []error
	for node, at := range c.miscAt {
		lf := e.files[node]
		i := slices.IndexFunc(lf.Stubs, func(s Stub) bool { return s.Keyword == "misc_path" && s.Where == at })
		if i < 0 {
			errs = append(errs, fmt.Errorf("%s: no stub for the misc_path at %s", node, at))
			continue
		}
		errs = append(errs, os.WriteFile(filepath.Join(lf.States, lf.Stubs[i].ID), []byte(status+"\n"), 0o644))
	}
	return errors.Join(errs...)
}

// scriptMissing says why keepalived would not run the operator's
// MISC_CHECK script: keepalived 2.2.7 silently disables a checker whose
// script does not exist or cannot be run (check_misc.c,
// check_misc_script_security), so the lab's stub would check what the
// operator's director never does.
func (e *env) scriptMissing(c judged) string {
	if len(c.Checkers) == 0 || c.Checkers[0].Misc == nil || len(c.Checkers[0].Misc.Args) == 0 {
		return "the MISC_CHECK has no script"
	}
	path := c.Checkers[0].Misc.Args[0]
	look := path
	if root := e.b.Inputs.Root; root != "" && filepath.IsAbs(path) {
		look = filepath.Join(root, path)
	}
	fi, err := os.Stat(look)
	switch {
	case err != nil:
		return fmt.Sprintf("keepalived 2.2.7 disables a MISC_CHECK whose script is not found (\"Disabling misc script … since not found/accessible\"), "+
			"and %s is not on this host (give --root with your files under it)", look)
	case fi.Mode()&0o111 == 0:
		return fmt.Sprintf("keepalived 2.2.7 does not run a MISC_CHECK script that is not executable, and %s is not", look)
	}
	return ""
}

// perCheck widens a window's upper bound by each attempt's own time.
func (w Window) perCheck(d time.Duration, words string) Window {
	if d <= 0 {
		return w
	}
	n := max(1, w.Checks)
	what := fmt.Sprintf("for %d checks' own time", n)
	if n == 1 {
		what = "for a check's own time"
	}
	return w.plus(time.Duration(n)*d, fmt.Sprintf("%s (%s)", what, words))
}

// plus widens a window's upper bound by d, saying why.
func (w Window) plus(d time.Duration, why string) Window {
	w.Max += d
	w.Formula += fmt.Sprintf(" + %s %s", roundMs(d), why)
	return w
}
