//go:build linux

package check

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lvslab/lvslab/harness/keepalived/conf"
)

// What keepalived 2.2.7 does with an instance's priority and who is
// master after a change: a tracked script failing or coming back, a
// master crashing, stopping or starting again. The failover, sync and
// tracking checks measure against these predictions; they are pure so
// that a test can hold them to keepalived's code (vrrp.c, vrrp_track.c,
// vrrp_sync.c).

// scriptTracker is one vrrp_script an instance follows, as keepalived
// keeps it after reading the file.
type scriptTracker struct {
	Script  string
	Weight  int // the track entry's weight, else the script's
	Reverse bool
	Pos     Pos
	// Via names the sync group whose track_script it is ("" for the
	// instance's own).
	Via string
}

// droppedTracker is a tracker keepalived removes, and why.
type droppedTracker struct {
	Script string
	Why    string
	Pos    Pos
}

// basePriority is an instance's configured priority: 255 for state
// MASTER without one (vrrp_data.c alloc_vrrp), else 100.
func basePriority(in conf.Instance) (int, string) {
	switch {
	case in.Priority.Set:
		return in.Priority.Value, fmt.Sprintf("priority %d", in.Priority.Value)
	case strings.EqualFold(in.State.Value, "MASTER"):
		return 255, "priority 255 (state MASTER without a priority)"
	}
	return 100, "priority 100 (default)"
}

// scriptTrackers are the scripts keepalived makes an instance track.
// A sync group's members lose their own weighted scripts unless the
// group sets sync_group_tracking_weight, and so does the address owner
// (vrrp.c vrrp_complete_instance); a sync group's own track_script
// applies to every member, its weight cleared if a member is the owner
// (vrrp.c sync_group_tracking_init).
func scriptTrackers(f *conf.File, in conf.Instance) (kept []scriptTracker, dropped []droppedTracker) {
	base, _ := basePriority(in)
	g, grouped := syncGroupOf(f, in.Name)
	for _, t := range in.TrackScripts {
		st := tracked(f, t, "")
		switch {
		case st.Weight != 0 && base == 255:
			dropped = append(dropped, droppedTracker{t.Name, "the address owner (priority 255) ignores tracking weights", st.Pos})
		case st.Weight != 0 && grouped && !g.GlobalTracking.Value:
			dropped = append(dropped, droppedTracker{t.Name, "a member of sync group " + g.Name +
				" ignores its own weighted scripts (put track_script in the group, or set sync_group_tracking_weight)", st.Pos})
		default:
			kept = append(kept, st)
		}
	}
	if grouped {
		owner := slices.ContainsFunc(g.Members, func(m string) bool {
			mi, ok := instance(f, m)
			p, _ := basePriority(mi)
			return ok && p == 255
		})
		for _, t := range g.TrackScripts {
			st := tracked(f, t, g.Name)
			if owner {
				st.Weight = 0
			}
			kept = append(kept, st)
		}
	}
	return kept, dropped
}

// tracked reads a track_script entry: its weight, else the script's,
// clamped to ±253 as keepalived does; reverse from either.
func tracked(f *conf.File, t conf.Track, via string) scriptTracker {
	st := scriptTracker{Script: t.Name, Weight: trackWeight(f, t), Reverse: t.Reverse, Pos: posOf(t.Pos), Via: via}
	for _, s := range f.Scripts {
		if s.Name == t.Name && s.Reverse && !t.Weight.Set {
			st.Reverse = true
		}
	}
	st.Weight = max(-253, min(253, st.Weight))
	return st
}

// trackWeight is a tracker's weight: the track entry's own, else its
// vrrp_script's.
func trackWeight(f *conf.File, t conf.Track) int {
	if t.Weight.Set {
		return t.Weight.Value
	}
	for _, s := range f.Scripts {
		if s.Name == t.Name && s.Weight.Set {
			return s.Weight.Value
		}
	}
	return 0
}

// contribution is what a weighted tracker adds to the priority: keepalived
// adds a positive weight while the script succeeds and a negative one
// while it fails, each times −1 with reverse (vrrp_track.c
// process_script_update_priority).
func (t scriptTracker) contribution(bad bool) int {
	c := 0
	switch {
	case t.Weight > 0 && !bad:
		c = t.Weight
	case t.Weight < 0 && bad:
		c = t.Weight
	}
	if t.Reverse {
		c = -c
	}
	return c
}

// faults says whether an unweighted tracker holds the instance in FAULT:
// while the script fails, or with reverse while it succeeds.
func (t scriptTracker) faults(bad bool) bool { return t.Weight == 0 && bad != t.Reverse }

// instancePrediction is an instance's state on one director with some
// scripts failing.
type instancePrediction struct {
	Priority int // effective, 1–254 (255 for the owner)
	Fault    bool
	Words    string
}

// predictInstance is an instance's effective priority with the scripts
// that bad names failing: the base priority plus the trackers' and
// interfaces' contributions (interfaces are up in the lab; a sync group
// member's weighted interfaces only fault, the owner's are dropped),
// kept within 1–254; 255 never changes.
func predictInstance(f *conf.File, in conf.Instance, bad func(script string) bool) instancePrediction {
	base, words := basePriority(in)
	g, grouped := syncGroupOf(f, in.Name)
	p := base
	if base != 255 && (!grouped || g.GlobalTracking.Value) {
		for _, t := range in.TrackInterfaces {
			if w := trackWeight(f, t); w > 0 && !t.Reverse {
				p += w
				words += fmt.Sprintf(" + %d (%s up)", w, t.Name)
			}
		}
	}
	kept, dropped := scriptTrackers(f, in)
	fault := false
	for _, t := range kept {
		isBad := bad != nil && bad(t.Script)
		state := map[bool]string{false: "good", true: "failing"}[isBad]
		if t.Reverse {
			state += ", reverse"
		}
		if t.faults(isBad) {
			fault = true
			words += fmt.Sprintf(", FAULT (%s %s, weight 0)", t.Script, state)
			continue
		}
		if c := t.contribution(isBad); c != 0 && base != 255 {
			p += c
			words += fmt.Sprintf(" %s %d (%s %s)", map[bool]string{true: "+", false: "−"}[c > 0], abs(c), t.Script, state)
		}
	}
	if len(dropped) > 0 && grouped && !g.GlobalTracking.Value {
		words += " (a sync group member: its tracking weights do not count)"
	}
	if base != 255 {
		p = max(1, min(254, p))
	}
	return instancePrediction{Priority: p, Fault: fault, Words: words}
}

// predictDirector predicts every instance of a director's file with the
// scripts bad names failing: one member of a sync group in FAULT takes
// the whole group there (vrrp_sync.c).
func predictDirector(f *conf.File, bad func(script string) bool) map[string]instancePrediction {
	out := map[string]instancePrediction{}
	for _, in := range f.Instances {
		out[in.Name] = predictInstance(f, in, bad)
	}
	for _, g := range f.SyncGroups {
		faulty := slices.ContainsFunc(g.Members, func(m string) bool { return out[m].Fault })
		for _, m := range g.Members {
			if p, ok := out[m]; ok && faulty && !p.Fault {
				p.Fault = true
				p.Words += ", FAULT (sync group " + g.Name + ")"
				out[m] = p
			}
		}
	}
	return out
}

func abs(n int) int { return max(n, -n) }

// preemption is what an instance does when it is backup and hears a
// master of lower priority.
type preemption struct {
	Never bool          // nopreempt: it stays backup
	Delay time.Duration // preempt_delay: it waits that long first
	Words string
}

// preemptionOf reads nopreempt and preempt_delay as keepalived keeps them
// (vrrp.c vrrp_complete_instance): nopreempt is cleared for the address
// owner and for state MASTER; preempt_delay for state MASTER, strict
// mode and nopreempt.
func preemptionOf(f *conf.File, in conf.Instance) preemption {
	base, _ := basePriority(in)
	master := strings.EqualFold(in.State.Value, "MASTER")
	strict := in.Strict.Value || f.Global.VRRPStrict.Value
	switch {
	case in.NoPreempt.Value && base != 255 && !master:
		return preemption{Never: true, Words: "nopreempt"}
	case in.NoPreempt.Value:
		return preemption{Words: "preempts: nopreempt is cleared with state MASTER or priority 255"}
	case in.PreemptDelay.Value > 0 && !master && !strict:
		return preemption{Delay: in.PreemptDelay.Value, Words: fmt.Sprintf("preempt_delay %s", in.PreemptDelay.Value)}
	case in.PreemptDelay.Value > 0:
		return preemption{Words: "preempts: preempt_delay is cleared with state MASTER or strict mode"}
	}
	return preemption{Words: "preempts (default)"}
}

// side is one director's instance in a prediction of who is master.
type side struct {
	Node     string
	Priority int  // effective
	Fault    bool // in FAULT, or not running
	Preempt  preemption
	Timing   vrrpTiming
}

// move says who holds an instance after a change, and within which
// window of the change it gets there.
type move struct {
	To     string // the master after; "" for none
	Moves  bool   // To is not the master before
	Window Window
	Why    string
}

// nextMaster predicts the master after a change of priorities, from the
// sides as they are after it and the master before (vrrp.c
// vrrp_state_backup, vrrp_state_master_rx). A master that enters FAULT
// sends a priority-0 advert: the best other takes over after its
// Skew_Time. Otherwise a backup of higher priority ignores the master's
// adverts and takes over when its Master_Down timer expires, unless
// nopreempt keeps it backup or preempt_delay holds it that much longer;
// an equal priority changes nothing.
func nextMaster(master string, sides []side) move {
	var cur *side
	for i := range sides {
		if sides[i].Node == master {
			cur = &sides[i]
		}
	}
	best := -1
	for i, s := range sides {
		if s.Node != master && !s.Fault && (best < 0 || s.Priority > sides[best].Priority) {
			best = i
		}
	}
	switch {
	case cur == nil || cur.Fault:
		if best < 0 {
			return move{Why: "no director can be master"}
		}
		b := sides[best]
		skew := b.Timing.skew(b.Priority)
		return move{To: b.Node, Moves: true, Window: Window{Max: skew, Formula: fmt.Sprintf(
			"a priority-0 advert: Skew_Time (256 − %d)/256%s = %s", b.Priority, skewUnit(b.Timing), roundMs(skew))},
			Why: fmt.Sprintf("%s leaves MASTER; %s (priority %d) takes over", master, b.Node, b.Priority)}
	case best < 0 || sides[best].Priority <= cur.Priority:
		return move{To: master, Why: fmt.Sprintf("%s keeps master: no other director's priority is higher than its %d", master, cur.Priority)}
	}
	b := sides[best]
	if b.Preempt.Never {
		return move{To: master, Why: fmt.Sprintf("%s (priority %d) is higher than %s's %d but has nopreempt", b.Node, b.Priority, master, cur.Priority)}
	}
	return move{To: b.Node, Moves: true, Window: preemptWindow(b),
		Why: fmt.Sprintf("%s (priority %d) is higher than %s's %d and preempts", b.Node, b.Priority, master, cur.Priority)}
}

// preemptWindow bounds when a backup of higher priority takes over after
// the instant it starts ignoring the master's adverts: its
// Master_Down_Interval; with preempt_delay T it accepts them for T from
// the first, an advert interval after the change at most, and its timer
// runs from the last it accepted.
func preemptWindow(s side) Window {
	md := s.Timing.masterDown(s.Priority)
	w := s.Timing.masterDownWindow(s.Priority)
	w.Min = 0
	if s.Preempt.Delay > 0 {
		adv := s.Timing.advert
		w = Window{Min: max(0, s.Preempt.Delay+md-2*adv), Max: s.Preempt.Delay + adv + md,
			Formula: fmt.Sprintf("preempt_delay %s + up to one advert %s + Master_Down_Interval %s", s.Preempt.Delay, adv, w.Formula)}
	}
	return w
}

func skewUnit(t vrrpTiming) string {
	if t.version == 3 {
		return " × advert " + t.advert.String()
	}
	return " s"
}

func syncGroupOf(f *conf.File, instance string) (conf.SyncGroup, bool) {
	for _, g := range f.SyncGroups {
		if slices.Contains(g.Members, instance) {
			return g, true
		}
	}
	return conf.SyncGroup{}, false
}
