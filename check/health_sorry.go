//go:build linux

package check

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/lvslab/lvslab/bench"
	"github.com/lvslab/lvslab/harness"
	"github.com/lvslab/lvslab/harness/keepalived/conf"
)

// The sorry server: failing enough real servers that the live weight
// drops below quorum − hysteresis must swap the sorry server in for every
// real server, and their recovery swap it out again once the live weight
// reaches quorum + hysteresis (ipwrapper.c update_quorum_state).

// sorryResults checks each service with a sorry server.
func (e *env) sorryResults(watches map[string]*tableWatch) []Result {
	var out []Result
	for _, s := range e.d.Services {
		if s.Sorry == nil || e.ctx.Err() != nil {
			continue
		}
		holder := e.holderOf(s)
		vs, ok := e.virtualServer(holder, s)
		if !ok {
			continue
		}
		e.step("health: %s's sorry server", s.Key)
		out = append(out, e.sorryServer(s, vs, holder, watches))
	}
	return out
}

// sorryFault is the fault that takes a real server out for the sorry
// server check: a refused port, else its MISC_CHECK script failing.
func sorryFault(vs conf.VirtualServer, rs conf.RealServer, s Service, r RealRef) (healthCase, bool) {
	for _, fault := range []string{faultRefused, faultScript} {
		for _, c := range rs.Checkers {
			p := probeOf(r, c)
			if faults, _ := faultsOf(c); slices.Contains(faults, fault) && p.Addr.Addr() == r.Addr {
				return newCase(vs, rs, s, r, c, p, fault), true
			}
		}
	}
	return healthCase{}, false
}

func (e *env) sorryServer(s Service, vs conf.VirtualServer, holder string, watches map[string]*tableWatch) Result {
	started := time.Now()
	sorry := *s.Sorry
	var weights []int
	for _, r := range s.Reals {
		weights = append(weights, r.Weight)
	}
	q := quorumOf(vs, weights)
	r := Result{ID: "health/" + s.Key + "/sorry-server", Group: GroupHealth, Where: []Pos{s.Pos, sorry.Pos},
		Title: fmt.Sprintf("%s: the sorry server %s replaces every real server when the live weight drops below quorum − hysteresis, "+
			"and they replace it at quorum + hysteresis (%s)", s.Key, netip.AddrPortFrom(sorry.Addr, sorry.Port), q.words)}
	defer func() { r.Elapsed = bench.Seconds(time.Since(started)) }()
	for _, p := range []conf.Pos{vs.Quorum.Pos, vs.Hysteresis.Pos} {
		if p.Line > 0 {
			r.Where = append(r.Where, posOf(p))
		}
	}
	subjects := e.healthSubjects(sorry.Addr, sorry.Port)
	for _, rr := range s.Reals {
		subjects = append(subjects, e.healthSubjects(rr.Addr, rr.Port)...)
	}
	r.RestsOn = e.d.RestsOn(subjects...)

	snap, err := watches[holder].fresh(e.ctx)
	if err != nil {
		r.Status, r.Reason = Inconclusive, err.Error()
		return r
	}
	up, canFail := make([]bool, len(s.Reals)), make([]bool, len(s.Reals))
	cases := make([]judged, len(s.Reals))
	live := 0
	for i, rr := range s.Reals {
		up[i] = stateOf(snap.table, s, rr.Addr, rr.Port).live()
		if up[i] {
			live += rr.Weight
		}
		hc, ok := sorryFault(vs, vs.Reals[i], s, rr)
		cases[i] = judged{healthCase: hc, holder: holder, miscAt: e.miscLines(s, rr)}
		canFail[i] = ok && hc.Why == "" && (hc.Fault != faultScript || e.scriptMissing(cases[i]) == "")
	}
	if stateOf(snap.table, s, sorry.Addr, sorry.Port).live() || q.lost(live) {
		r.Status, r.Reason = NotChecked, fmt.Sprintf("%s has lost quorum already (live weight %d): the sorry server is in before any fault", e.nodeName(holder), live)
		return r
	}
	fail, ok := sorryFaults(weights, up, canFail, q)
	if !ok {
		r.Status, r.Reason = NotChecked, fmt.Sprintf("failing every real server the lab can fail (a refused port or a failing MISC_CHECK) leaves a live weight of at least quorum − hysteresis = %d", q.quorum-q.hysteresis)
		return r
	}
	e.swapSorry(&r, sorryRun{s: s, holder: holder, q: q, up: up, live: live, cases: cases, fail: fail}, watches)
	return r
}

// sorryRun is a sorry server check ready to run: the real servers up
// before (their live weight), and the faults that make the service lose
// quorum.
type sorryRun struct {
	s      Service
	holder string
	q      quorumRule
	up     []bool
	live   int
	cases  []judged
	fail   []int
}

// swapSorry fails the real servers, waits for the sorry server to
// replace them, recovers them and waits for the reverse, and judges.
func (e *env) swapSorry(r *Result, p sorryRun, watches map[string]*tableWatch) {
	s, sorry, holder, up, live, q := p.s, *p.s.Sorry, p.holder, p.up, p.live, p.q
	var downs, ups []Window
	var names []string
	for _, i := range p.fail {
		downs, ups = append(downs, p.cases[i].Down), append(ups, p.cases[i].Up)
		names = append(names, fmt.Sprintf("%s (%s)", netip.AddrPortFrom(s.Reals[i].Addr, s.Reals[i].Port), p.cases[i].Fault))
	}
	// Quorum goes when the last of them is out (each is needed:
	// sorryFaults stops at the first that loses it) and comes back at the
	// latest when the last is back.
	downs0, ups0 := lastOf(downs, "server out"), lastOf(ups, "server back")
	regains := q.gained(live)
	late := e.late.Worst()
	var setup, clearing, took time.Duration
	var tookWords string
	for _, i := range p.fail {
		if d, w := e.checkDuration(p.cases[i]); d > took {
			took, tookWords = d, w
		}
	}
	bounds := func() (Window, Window) {
		down := downs0.Widen(late).perCheck(took, tookWords).plus(setup+tablePoll, "putting the faults in place and reading the table")
		back := ups0.Widen(late).perCheck(took, tookWords).plus(clearing+tablePoll, "clearing the faults and reading the table")
		r.Bound = fmt.Sprintf("sorry server in, every real server out: %s; ", down)
		if regains {
			r.Bound += fmt.Sprintf("after recovery, sorry server out and the real servers in: %s", back)
		} else {
			r.Bound += fmt.Sprintf("after recovery the sorry server stays: the live weight %d is below quorum + hysteresis = %d", live, q.quorum+q.hysteresis)
		}
		return down, back
	}
	bounds()

	swapped := func(t []harness.ServiceState) bool {
		if !stateOf(t, s, sorry.Addr, sorry.Port).live() {
			return false
		}
		return !slices.ContainsFunc(s.Reals, func(rr RealRef) bool { return stateOf(t, s, rr.Addr, rr.Port).live() })
	}
	restored := func(t []harness.ServiceState) bool {
		if stateOf(t, s, sorry.Addr, sorry.Port).live() {
			return false
		}
		for i, rr := range s.Reals {
			if up[i] && !stateOf(t, s, rr.Addr, rr.Port).live() {
				return false
			}
		}
		return true
	}

	t0 := time.Now()
	var clears []func() error
	var errs []error
	for _, i := range p.fail {
		clear, err := e.inject(p.cases[i])
		if clear != nil {
			clears = append(clears, clear)
		}
		errs = append(errs, err)
	}
	setup = time.Since(t0)
	in, inErr := watches[holder].waitUntil(e.ctx, t0, downs0.Widen(2*late).perCheck(took, "").Max+setup+healthSlack, swapped)
	tr := time.Now()
	for _, clear := range clears {
		errs = append(errs, clear())
	}
	clearing = time.Since(tr)
	wait := ups0.Widen(2*late).perCheck(took, "").Max + clearing + healthSlack
	outAt, outErr := watches[holder].waitUntil(e.ctx, tr, wait, restored)
	late = e.late.Worst()
	down, back := bounds()
	r.Measured = fmt.Sprintf("failed %s: ", strings.Join(names, ", "))
	if inErr != nil {
		r.Measured += "the sorry server did not replace them"
	} else {
		r.Measured += fmt.Sprintf("sorry server in and every real server out after %s", roundMs(in.at.Sub(t0)))
	}
	switch {
	case regains && outErr == nil:
		r.Measured += fmt.Sprintf("; sorry server out and the real servers in %s after they recovered", roundMs(outAt.at.Sub(tr)))
	case !regains && outErr != nil:
		r.Measured += fmt.Sprintf("; the sorry server stayed %s after they recovered", roundMs(wait))
	}
	switch err := errors.Join(errs...); {
	case err != nil:
		r.Status, r.Reason = Inconclusive, "could not put a fault in place or clear it: "+err.Error()
	case inErr != nil:
		r.Status, r.Reason = Fail, fmt.Sprintf("no swap to the sorry server in %s's table within %s", e.nodeName(holder), roundMs(tr.Sub(t0)))
	case !down.Holds(in.at.Sub(t0)):
		r.Status, r.Reason = Fail, fmt.Sprintf("swapped after %s, outside %s", roundMs(in.at.Sub(t0)), down)
	case regains && outErr != nil:
		r.Status, r.Reason = Fail, fmt.Sprintf("the real servers did not replace the sorry server within %s", roundMs(wait))
	case regains && !back.Holds(outAt.at.Sub(tr)):
		r.Status, r.Reason = Fail, fmt.Sprintf("swapped back after %s, outside %s", roundMs(outAt.at.Sub(tr)), back)
	case !regains && outErr == nil:
		r.Status, r.Reason = Fail, fmt.Sprintf("the real servers replaced the sorry server though the live weight %d is below quorum + hysteresis", live)
	default:
		r.Status = Pass
	}
}

// miscLines are, by director, the misc_path line of the real server's
// first MISC_CHECK in the service.
func (e *env) miscLines(s Service, r RealRef) map[string]Pos {
	out := map[string]Pos{}
	for _, d := range e.b.Directors {
		vs, ok := e.virtualServer(d.Node, s)
		if !ok {
			continue
		}
		for _, rs := range vs.Reals {
			if rs.Addr.Addr() != r.Addr {
				continue
			}
			for _, c := range rs.Checkers {
				if c.Kind == "MISC_CHECK" && c.Misc != nil {
					out[d.Node] = posOf(c.Misc.Pos)
					break
				}
			}
		}
	}
	return out
}
