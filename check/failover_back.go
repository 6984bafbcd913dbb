//go:build linux

package check

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/lvslab/lvslab/bench"
)

// The failed master comes back, the master stops gracefully, and both
// directors reload at once.

// staysFor is how long a returning director under nopreempt is watched
// staying backup, in Master_Down_Intervals: long enough for any timer
// of the election to have fired twice over.
const staysFor = 3

// failoverPreempt brings the crashed director back as a restarted
// machine (a fresh namespace, keepalived started) and checks what the
// file says it does: take its instances back within its
// Master_Down_Interval of its start (default), after preempt_delay, or
// never (nopreempt).
func (e *env) failoverPreempt(h home, node string) Result {
	holder := e.other(node)
	var names []string
	for _, name := range e.instanceNames() {
		if h[name] == node {
			names = append(names, name)
		}
	}
	r := Result{ID: "failover/preempt", Group: GroupFailover, RestsOn: e.d.RestsOn(e.instanceSubjects(names...)...)}
	for _, name := range names {
		r.Where = append(r.Where, e.instancePositions(name)...)
	}
	e.step("bringing %s back: a fresh namespace, keepalived started", e.nodeName(node))
	if err := e.reboot(node); err != nil {
		r.Title, r.Status, r.Reason = e.nodeName(node)+" comes back after the crash", Inconclusive, err.Error()
		return r
	}
	started, err := e.startDaemon(node)
	if err != nil {
		r.Title, r.Status, r.Reason = e.nodeName(node)+" comes back after the crash", Inconclusive, err.Error()
		return r
	}
	late := e.late.Worst()
	var ts []*takeover
	var unwidened []Window
	var stays, modes []string
	stayFor := time.Duration(0)
	for _, name := range names {
		sides := e.sides(name, nil)
		mv := nextMaster(holder, sides)
		s, _ := sideOf(sides, node)
		modes = append(modes, name+" "+s.Preempt.Words)
		if !mv.Moves {
			stays = append(stays, name)
			stayFor = max(stayFor, staysFor*s.Timing.masterDown(s.Priority))
			continue
		}
		// keepalived's own start of its timers, as the election check
		// times it: under TCG its first event can come over a second
		// after the exec, which the bound does not include.
		ctx, cancel := context.WithTimeout(e.ctx, firstEventWait)
		init, err := e.firstState(ctx, node, name, started)
		cancel()
		from := started
		if err == nil {
			from = init.At
		}
		w := mv.Window
		w.Formula = "from its start: " + w.Formula
		unwidened = append(unwidened, w)
		ts = append(ts, &takeover{name: name, to: node, from: from, window: widenLate(w, late)})
	}
	e.shareGroupWindows(ts)
	r.Title = fmt.Sprintf("%s comes back after the crash (a fresh namespace, as a restarted machine): %s", e.nodeName(node), strings.Join(modes, "; "))
	e.watchTakeovers(ts, started)
	e.judgeTakeovers(&r, ts, unwidened)
	if len(stays) == 0 {
		return r
	}
	// Under nopreempt: no VIP of those instances may come to it.
	if err := sleepCtx(e.ctx, time.Until(started.Add(stayFor))); err != nil {
		r.Status, r.Reason = Inconclusive, err.Error()
		return r
	}
	var took []string
	for _, name := range stays {
		for _, vip := range e.instanceVIPs(name) {
			for _, a := range e.addrs.changes(started) {
				if a.Node == node && a.Addr == vip && a.New {
					took = append(took, fmt.Sprintf("%s (%s after its start)", name, roundMs(a.At.Sub(started))))
				}
			}
		}
	}
	bound := fmt.Sprintf("%s stay on %s for %d × Master_Down_Interval = %s (nopreempt)", strings.Join(stays, ", "), e.nodeName(holder), staysFor, roundMs(stayFor))
	seen := fmt.Sprintf("%s stayed on %s for %s", strings.Join(stays, ", "), e.nodeName(holder), roundMs(stayFor))
	r.Bound, r.Measured = strings.TrimPrefix(r.Bound+"; "+bound, "; "), strings.TrimPrefix(r.Measured+"; "+seen, "; ")
	r.Elapsed = bench.Seconds(max(time.Duration(r.Elapsed), stayFor))
	if len(took) > 0 {
		r.Measured = strings.TrimPrefix(strings.TrimSuffix(r.Measured, seen)+"; "+e.nodeName(node)+" took "+strings.Join(took, ", "), "; ")
		r.Status, r.Reason = Fail, "nopreempt, yet "+e.nodeName(node)+" took "+strings.Join(took, ", ")
	} else if len(ts) == 0 {
		r.Status = Pass
	}
	return r
}

// failoverStop stops the main master gracefully (SIGTERM, as "systemctl
// stop keepalived"): for each instance it sends a priority-0 advert and
// then removes the VIPs (vrrp.c vrrp_restore_interface), and the backup
// takes over after its Skew_Time. Each takeover is timed from the
// master's removal of the instance's first VIP, the instant right after
// its advert.
func (e *env) failoverStop(h home) Result {
	master, names := e.mainMaster(h)
	to := e.other(master)
	r := Result{ID: "failover/stop", Group: GroupFailover, RestsOn: e.d.RestsOn(e.instanceSubjects(names...)...),
		Title: fmt.Sprintf("%s stops gracefully (SIGTERM): %s takes over %s", e.nodeName(master), e.nodeName(to), strings.Join(names, ", "))}
	for _, name := range names {
		r.Where = append(r.Where, e.instancePositions(name)...)
	}
	late := e.late.Worst()
	var unwidened []Window
	ts := e.expectTakeovers(names, to, func(name string) Window {
		w := nextMaster(master, e.sides(name, nil, master)).Window
		w.Formula = "from the priority-0 advert: " + w.Formula
		unwidened = append(unwidened, w)
		return takerLate(w, late)
	})
	e.step("stopping %s gracefully", e.nodeName(master))
	t0 := time.Now()
	stopped := make(chan error, 1)
	go func() { stopped <- e.daemons[master].Stop() }()
	var sent []string
	for _, t := range ts {
		vips := e.instanceVIPs(t.name)
		if len(vips) == 0 {
			continue
		}
		ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
		a, err := e.addrs.wait(ctx, t0, func(a addrEvent) bool { return a.Node == master && a.Addr == vips[0] && !a.New })
		cancel()
		if err == nil {
			t.from = a.At
			sent = append(sent, fmt.Sprintf("%s %s", t.name, roundMs(a.At.Sub(t0))))
		}
	}
	e.watchTakeovers(ts, t0)
	if err := <-stopped; err != nil {
		r.Status, r.Reason = Inconclusive, err.Error()
		return r
	}
	e.judgeTakeovers(&r, ts, unwidened)
	if len(sent) > 0 {
		r.Measured += fmt.Sprintf("; %s sent its priority-0 adverts and removed the VIPs after SIGTERM: %s", e.nodeName(master), strings.Join(sent, ", "))
	}
	return r
}

// failoverReload reloads both directors at once (SIGHUP, as "systemctl
// reload keepalived" run on both) and watches every VIP's holders for
// staysFor Master_Down_Intervals: never two at once for longer than one
// advert interval, and at the end the masters of before (keepalived
// 2.2.7 keeps a master master across a reload, vrrp.c
// restore_vrrp_state).
func (e *env) failoverReload(h home) Result {
	r := Result{ID: "failover/reload", Group: GroupFailover,
		Title: "a reload (SIGHUP) of both directors at once never leaves two masters (keepalived issue 2387)"}
	var vips []netip.Addr
	var adv time.Duration
	for _, name := range e.instanceNames() {
		r.Where = append(r.Where, e.instancePositions(name)...)
		vips = append(vips, e.instanceVIPs(name)...)
		for _, s := range e.sides(name, nil) {
			adv = max(adv, s.Timing.advert)
		}
	}
	r.RestsOn = e.d.RestsOn(e.instanceSubjects(e.instanceNames()...)...)
	late := e.late.Worst()
	watch := staysFor * e.longestMasterDown()
	r.Bound = fmt.Sprintf("never two holders of a VIP for longer than one advert interval %s + %s timer lateness, over %d × Master_Down_Interval = %s; then the masters of before",
		adv, roundMs(late), staysFor, roundMs(watch))
	before := map[netip.Addr][]string{}
	for _, a := range vips {
		before[a] = e.holdersOf(a)
	}
	e.step("reloading both directors at once; watching the VIPs for %s", roundMs(watch))
	t0 := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, len(e.b.Directors))
	for i, d := range e.b.Directors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = e.daemons[d.Node].Reload()
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			r.Status, r.Reason = Inconclusive, err.Error()
			return r
		}
	}
	if err := sleepCtx(e.ctx, watch); err != nil {
		r.Status, r.Reason = Inconclusive, err.Error()
		return r
	}
	end := time.Now()
	var overlaps, bad []string
	for _, a := range vips {
		if d, at := longestOverlap(before[a], e.addrs.changes(t0), a, t0, end); d > 0 {
			overlaps = append(overlaps, fmt.Sprintf("%s held twice for %s (from %s after the reload)", a, roundMs(d), roundMs(at.Sub(t0))))
			if d > adv+late {
				bad = append(bad, fmt.Sprintf("%s had two holders for %s", a, roundMs(d)))
			}
		}
	}
	for _, d := range e.b.Directors {
		if e.daemons[d.Node].Down() {
			bad = append(bad, "keepalived in "+d.Name+" ended")
		}
	}
	got, why := e.atRest()
	switch {
	case why != "":
		bad = append(bad, "after it: "+why)
	case !equalHome(got, h):
		bad = append(bad, fmt.Sprintf("the masters changed: %v, were %v", got, h))
	}
	changes := 0
	for _, ev := range e.events.Events() {
		if !ev.At.Before(t0) && ev.Kind == "INSTANCE" {
			changes++
		}
	}
	r.Measured = fmt.Sprintf("never two holders at once; %d state change(s); then the masters of before", changes)
	if len(overlaps) > 0 {
		r.Measured = strings.Join(overlaps, "; ") + fmt.Sprintf("; %d state change(s)", changes)
	}
	r.Elapsed = bench.Seconds(end.Sub(t0))
	r.Reason = e.issue2387()
	if len(bad) > 0 {
		r.Status, r.Reason = Fail, strings.Join(bad, "; ")+"; "+r.Reason
	} else {
		r.Status = Pass
	}
	return r
}

// issue2387 says what the reload check covers of keepalived issue 2387:
// two masters for good after a reload that came before
// vrrp_startup_delay expired, in keepalived 2.2.8 to 2.3.1 (fixed in
// 2.3.2).
func (e *env) issue2387() string {
	delays := []string{}
	for _, d := range e.b.Directors {
		if sd := d.Conf.Global.StartupDelay; sd.Set {
			delays = append(delays, fmt.Sprintf("%s: vrrp_startup_delay %s (%s)", d.Name, sd.Value, posOf(sd.Pos)))
		}
	}
	what := "this file sets no vrrp_startup_delay, which the issue needs"
	if len(delays) > 0 {
		what = strings.Join(delays, ", ") + "; a reload within that delay after a start was not tried"
	}
	return fmt.Sprintf("checked: a reload of a running pair; issue 2387 (a reload within vrrp_startup_delay, keepalived 2.2.8 to 2.3.1): %s; keepalived here: %s",
		what, e.report.Keepalived)
}

// longestOverlap replays an address's changes from start, with its
// holders then: the longest time two or more directors held it at once,
// and when that began (an overlap still on at end ends there).
func longestOverlap(before []string, changes []addrEvent, a netip.Addr, start, end time.Time) (time.Duration, time.Time) {
	holders := map[string]bool{}
	for _, n := range before {
		holders[n] = true
	}
	var since, at time.Time
	var longest time.Duration
	if len(holders) >= 2 {
		since = start
	}
	over := func(t time.Time) {
		if d := t.Sub(since); !since.IsZero() && d > longest {
			longest, at = d, since
		}
		since = time.Time{}
	}
	for _, c := range changes {
		if c.Addr != a {
			continue
		}
		if c.New {
			holders[c.Node] = true
		} else {
			delete(holders, c.Node)
		}
		switch {
		case len(holders) >= 2 && since.IsZero():
			since = c.At
		case len(holders) < 2:
			over(c.At)
		}
	}
	over(end)
	return longest, at
}
