//go:build linux

package check

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/lvslab/lvslab/harness/keepalived"
)

// How one instance goes through one change of a tracked script: its new
// state or priority, then the master its priorities predict.

// observePhase checks one instance through one change of the script,
// from `from` to `to` at t0: its new state or priority within w, then
// the master the priorities predict (within the move's window of the
// change). It returns the instance's master after.
func (e *env) observePhase(c *trackCase, node, script string, tail *logTail, t0 time.Time, w Window, from, to instancePrediction, master string, bad map[string]func(string) bool, phase string) string {
	var at time.Time
	bound := fmt.Sprintf("%s: %s", phase, to.Words)
	ctx, cancel := context.WithDeadline(e.ctx, t0.Add(w.Max+time.Second))
	defer cancel()
	switch {
	case from.Fault != to.Fault:
		bound += " within " + w.String()
		ev, err := e.events.WaitEvent(ctx, t0, func(ev keepalived.Event) bool {
			return ev.Director == node && ev.Kind == "INSTANCE" && ev.Name == c.name && (ev.State == "FAULT") == to.Fault
		})
		if err != nil {
			c.errs = append(c.errs, fmt.Sprintf("%s: %s did not %s within %s", phase, c.name, map[bool]string{true: "enter", false: "leave"}[to.Fault]+" FAULT", roundMs(w.Max+time.Second)))
			break
		}
		at = ev.At
		c.seen = append(c.seen, fmt.Sprintf("%s: %s %s after %s", phase, c.name, ev.State, roundMs(at.Sub(t0))))
	case from.Priority != to.Priority:
		bound += fmt.Sprintf(" = %d within %s", to.Priority, w)
		l, ok := tail.wait(ctx, t0, func(l logLine) bool {
			m := priorityLine.FindStringSubmatch(l.Text)
			return l.Node == node && m != nil && m[1] == c.name
		})
		if !ok {
			c.errs = append(c.errs, fmt.Sprintf("%s: %s's priority did not change within %s", phase, c.name, roundMs(w.Max+time.Second)))
			break
		}
		m := priorityLine.FindStringSubmatch(l.Text)
		at = l.At
		c.seen = append(c.seen, fmt.Sprintf("%s: priority %s → %s after %s", phase, m[2], m[3], roundMs(at.Sub(t0))))
		if m[2] != strconv.Itoa(from.Priority) || m[3] != strconv.Itoa(to.Priority) {
			c.errs = append(c.errs, fmt.Sprintf("%s: priority %s → %s, predicted %d → %d", phase, m[2], m[3], from.Priority, to.Priority))
		}
	default:
		// keepalived's word that the script changed, then a second for
		// a change it should not make.
		bound += fmt.Sprintf(": nothing changes once keepalived counts the script %s (within %s)", phase, w)
		want := map[bool]string{true: "failed", false: "succeeded"}[phase == "failing"]
		l, ok := tail.wait(ctx, t0, func(l logLine) bool {
			m := scriptLine.FindStringSubmatch(l.Text)
			return l.Node == node && m != nil && m[1] == script && m[2] == want
		})
		if !ok {
			c.errs = append(c.errs, fmt.Sprintf("%s: keepalived did not count %s %s within %s", phase, script, want, roundMs(w.Max+time.Second)))
			c.bounds = append(c.bounds, bound)
			return master
		}
		sleepCtx(e.ctx, time.Second)
		_, changed := tail.wait(doneCtx(), t0, func(l logLine) bool {
			m := priorityLine.FindStringSubmatch(l.Text)
			return l.Node == node && m != nil && m[1] == c.name
		})
		if changed {
			c.errs = append(c.errs, fmt.Sprintf("%s: %s's priority changed, though the script does not count for it", phase, c.name))
		} else {
			c.seen = append(c.seen, fmt.Sprintf("%s: keepalived counted it %s after %s, %s unchanged", phase, want, roundMs(l.At.Sub(t0)), c.name))
		}
		if !w.Holds(l.At.Sub(t0)) {
			c.errs = append(c.errs, fmt.Sprintf("%s: took %s, outside %s", phase, roundMs(l.At.Sub(t0)), w))
		}
		c.bounds = append(c.bounds, bound)
		return master
	}
	if !at.IsZero() && !w.Holds(at.Sub(t0)) {
		c.errs = append(c.errs, fmt.Sprintf("%s: took %s, outside %s", phase, roundMs(at.Sub(t0)), w))
	}
	c.bounds = append(c.bounds, bound)
	if at.IsZero() || master == "" {
		return master
	}
	master, moveBound := e.observeMove(c, at, master, bad, phase)
	if moveBound != "" {
		c.bounds = append(c.bounds, moveBound)
	}
	return master
}

// doneCtx is a context already done: a wait on it only looks at what
// was seen.
func doneCtx() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// observeMove checks who is master of the instance after its change at
// `at`: the director the predicted priorities name, within the move's
// window; one that stays master stays for that director's
// Master_Down_Interval at least. It returns the master and the bound.
func (e *env) observeMove(c *trackCase, at time.Time, master string, bad map[string]func(string) bool, phase string) (string, string) {
	sides := e.sides(c.name, bad)
	if len(sides) < 2 {
		return master, ""
	}
	late := e.late.Worst()
	mv := nextMaster(master, sides)
	if !mv.Moves {
		var hold time.Duration
		for _, s := range sides {
			if s.Node != master {
				hold = max(hold, s.Timing.masterDown(s.Priority))
			}
		}
		sleepCtx(e.ctx, time.Until(at.Add(hold+late)))
		now := e.mastersOf(c.name)
		if len(now) != 1 || now[0] != master {
			c.errs = append(c.errs, fmt.Sprintf("%s: the master is %s, predicted %s (%s)", phase, strings.Join(now, ", "), e.nodeName(master), mv.Why))
		} else {
			c.seen = append(c.seen, fmt.Sprintf("%s stays master", e.nodeName(master)))
		}
		return master, fmt.Sprintf("%s stays master (%s)", e.nodeName(master), mv.Why)
	}
	if mv.Window.Max < late {
		c.below = true
	}
	w := widenLate(mv.Window, late)
	vips := e.instanceVIPs(c.name)
	bound := fmt.Sprintf("%s master within %s (%s)", e.nodeName(mv.To), w, mv.Why)
	if len(vips) == 0 {
		return mv.To, bound
	}
	ctx, cancel := context.WithDeadline(e.ctx, at.Add(w.Max+2*time.Second))
	defer cancel()
	a, err := e.addrs.wait(ctx, at.Add(-late), func(a addrEvent) bool { return a.Node == mv.To && a.Addr == vips[0] && a.New })
	if err != nil {
		c.errs = append(c.errs, fmt.Sprintf("%s: %s did not take %s within %s", phase, e.nodeName(mv.To), vips[0], roundMs(w.Max+2*time.Second)))
		return master, bound
	}
	took := max(0, a.At.Sub(at)) // the log line is read up to logPoll late
	c.seen = append(c.seen, fmt.Sprintf("%s master %s later", e.nodeName(mv.To), roundMs(took)))
	if !w.Holds(took) {
		c.errs = append(c.errs, fmt.Sprintf("%s: %s took over after %s, outside %s", phase, e.nodeName(mv.To), roundMs(took), w))
	}
	return mv.To, bound
}
