//go:build linux

package check

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lvslab/lvslab/bench"
	"github.com/lvslab/lvslab/harness/keepalived"
	"github.com/lvslab/lvslab/harness/keepalived/conf"
)

// effectivePriority is an instance's priority once keepalived has added
// its trackers' weights with every tracked thing good, as the lab starts
// them (predictInstance says how).
func effectivePriority(f *conf.File, in conf.Instance) (int, string) {
	p := predictInstance(f, in, nil)
	return p.Priority, p.Words
}

// candidate is a director's view of one instance.
type candidate struct {
	dir      *Director
	in       conf.Instance
	priority int
	words    string
}

// election checks that each VRRP instance elects the master its
// effective priorities predict, within Master_Down_Interval of the start
// (keepalived 2.2.7 waits that long even for state MASTER:
// vrrp_scheduler.c, vrrp_init_state), and that a sync group's members
// end up master on the same director.
func (e *env) election() []Result {
	var out []Result
	started := e.startedAt()
	for _, name := range e.instanceNames() {
		out = append(out, e.electInstance(name, started))
	}
	for _, g := range e.b.Directors[0].Conf.SyncGroups {
		out = append(out, e.electGroup(g, started))
	}
	return out
}

func (e *env) startedAt() time.Time {
	var t time.Time
	for _, k := range e.daemons {
		if s := k.StartedAt(); s.After(t) {
			t = s
		}
	}
	return t
}

func (e *env) instanceNames() []string {
	var out []string
	for _, d := range e.b.Directors {
		for _, in := range d.Conf.Instances {
			if !slices.Contains(out, in.Name) {
				out = append(out, in.Name)
			}
		}
	}
	return out
}

func (e *env) candidates(name string) []candidate {
	var cs []candidate
	for _, d := range e.b.Directors {
		if in, ok := instance(d.Conf, name); ok {
			p, w := effectivePriority(d.Conf, in)
			cs = append(cs, candidate{dir: d, in: in, priority: p, words: w})
		}
	}
	return cs
}

func (e *env) electInstance(name string, started time.Time) Result {
	cs := e.candidates(name)
	r := Result{ID: "election/" + name, Group: GroupElection}
	for _, c := range cs {
		r.Where = append(r.Where, posOf(c.in.Pos))
	}
	slices.SortStableFunc(cs, func(a, b candidate) int { return b.priority - a.priority })
	winner := cs[0]
	tie := len(cs) > 1 && cs[1].priority == winner.priority
	timing := timingOf(winner.dir.Conf, winner.in)
	w := timing.masterDownWindow(winner.priority)
	w.Min = 0
	if winner.priority == 255 {
		w = Window{Max: time.Second, Formula: "priority 255 takes over at once (the address owner)"}
	}
	late := e.late.Worst()
	unwidened := w
	w = takerLate(w, late)
	var who []string
	for _, c := range cs {
		who = append(who, fmt.Sprintf("%s %s", c.dir.Name, c.words))
	}
	r.Title = fmt.Sprintf("%s elects %s as master (%s)", name, winner.dir.Name, strings.Join(who, "; "))
	if tie {
		r.Title = fmt.Sprintf("%s elects one master of two at equal priority %d: the first timer to fire wins", name, winner.priority)
	}
	r.Bound = w.String()
	r.RestsOn = e.d.RestsOn(e.instanceSubjects(name)...)
	ctx, cancel := context.WithTimeout(e.ctx, w.Max+2*time.Second)
	defer cancel()
	// The predicted master, however the other fared first: started a
	// little later, a director of lower priority can win its own timer's
	// race and give way at the first advert of the one that preempts it.
	ev, err := e.events.WaitEvent(ctx, started, func(ev keepalived.Event) bool {
		return ev.Kind == "INSTANCE" && ev.Name == name && ev.State == "MASTER" && (tie || ev.Director == winner.dir.Node)
	})
	if err != nil {
		r.Status, r.Reason = Fail, fmt.Sprintf("%s did not become master within %s (masters now: %s)", winner.dir.Name, roundMs(w.Max+2*time.Second), strings.Join(e.masters(name), ", "))
		r.Measured = "not master"
		return r
	}
	took := e.tookOver(name, ev, started, winner.in)
	r.Elapsed = bench.Seconds(took)
	// Give a second master the time to show itself before judging.
	time.Sleep(min(timing.advert, time.Second))
	masters := e.masters(name)
	r.Measured = fmt.Sprintf("%s master after %s", ev.Director, roundMs(took))
	g, grouped := syncGroupOf(winner.dir.Conf, name)
	if grouped {
		// A sync group moves its members together, as fast as its first:
		// the group's result judges the time.
		r.Bound = "master on the director its sync group " + g.Name + " elects"
		w = Window{Max: time.Hour}
	}
	switch {
	case len(masters) != 1:
		r.Status, r.Reason = Fail, fmt.Sprintf("%d masters now: %s", len(masters), strings.Join(masters, ", "))
	case !tie && e.nodeName(masters[0]) != winner.dir.Name:
		r.Status, r.Reason = Fail, fmt.Sprintf("%s became master, not %s", e.nodeName(masters[0]), winner.dir.Name)
	case !grouped && unwidened.Max < late:
		r.Status, r.Reason = NotChecked, fmt.Sprintf("not checked here, on this host: timers ran up to %s late, more than the bound", roundMs(late))
	case !w.Holds(took):
		r.Status, r.Reason = Fail, fmt.Sprintf("took %s, outside %s", roundMs(took), r.Bound)
	default:
		r.Status = Pass
	}
	return r
}

// tookOver is how long an instance took to make ev.Director master:
// from the instant its Master_Down timer started (keepalived's "BACKUP"
// at init, or since) to the instant its first VIP appeared, which
// keepalived adds before its gratuitous ARPs and its notification.
func (e *env) tookOver(name string, ev keepalived.Event, since time.Time, in conf.Instance) time.Duration {
	start, end := e.takeoverSpan(name, ev, since, in)
	return end.Sub(start)
}

// takeoverSpan is when an instance's Master_Down timer started on
// ev.Director and when its first VIP was added there.
func (e *env) takeoverSpan(name string, ev keepalived.Event, since time.Time, in conf.Instance) (start, end time.Time) {
	start = since
	for _, b := range e.events.Events() {
		if b.Director == ev.Director && b.Kind == "INSTANCE" && b.Name == name && b.State == "BACKUP" && !b.At.Before(since) && b.At.Before(ev.At) {
			start = b.At
			break
		}
	}
	end = ev.At
	if len(in.VIPs) > 0 {
		vip := in.VIPs[0].Prefix.Addr()
		ctx, cancel := context.WithTimeout(e.ctx, time.Second)
		defer cancel()
		if a, err := e.addrs.wait(ctx, start, func(a addrEvent) bool { return a.Node == ev.Director && a.Addr == vip && a.New }); err == nil {
			end = a.At
		}
	}
	return start, end
}

// masters are the director nodes whose latest state of the instance is
// MASTER.
func (e *env) masters(name string) []string {
	last := map[string]string{}
	for _, ev := range e.events.Events() {
		if ev.Kind == "INSTANCE" && ev.Name == name {
			last[ev.Director] = ev.State
		}
	}
	var out []string
	for _, node := range sortedKeys(last) {
		if last[node] == "MASTER" {
			out = append(out, node)
		}
	}
	return out
}

func (e *env) nodeName(node string) string {
	for _, d := range e.b.Directors {
		if d.Node == node {
			return d.Name
		}
	}
	return node
}

// electGroup checks that a sync group's members are master on one
// director, within the shortest Master_Down_Interval of its members
// there: the first member whose timer fires takes the others along.
func (e *env) electGroup(g conf.SyncGroup, started time.Time) Result {
	r := Result{ID: "election/group/" + g.Name, Group: GroupElection, Where: []Pos{posOf(g.Pos)},
		Title: fmt.Sprintf("sync group %s: every member master on one director", g.Name)}
	holders := map[string]bool{}
	for _, m := range g.Members {
		for _, node := range e.masters(m) {
			holders[node] = true
		}
	}
	nodes := sortedKeys(holders)
	r.RestsOn = e.d.RestsOn(e.instanceSubjects(g.Members...)...)
	if len(nodes) != 1 {
		r.Status, r.Reason = Fail, fmt.Sprintf("the members are master on %d directors: %s", len(nodes), strings.Join(nodes, ", "))
		r.Measured = "master on " + strings.Join(nodes, ", ")
		return r
	}
	// keepalived 2.2.7 moves a sync group when every member wants to:
	// at the last member's timer, timed from the last member's start.
	var w Window
	var lastStart, firstEnd time.Time
	for _, m := range g.Members {
		cs := e.candidates(m)
		i := slices.IndexFunc(cs, func(c candidate) bool { return c.dir.Node == nodes[0] })
		if i < 0 {
			continue
		}
		mw := timingOf(cs[i].dir.Conf, cs[i].in).masterDownWindow(cs[i].priority)
		if w.Formula == "" || mw.Max < w.Max {
			w = mw
		}
		ev, err := e.events.WaitEvent(e.ctx, started, func(ev keepalived.Event) bool {
			return ev.Kind == "INSTANCE" && ev.Name == m && ev.State == "MASTER" && ev.Director == nodes[0]
		})
		if err == nil {
			start, end := e.takeoverSpan(m, ev, started, cs[i].in)
			if start.After(lastStart) {
				lastStart = start
			}
			if firstEnd.IsZero() || end.Before(firstEnd) {
				firstEnd = end
			}
		}
	}
	took := time.Duration(-1)
	if !firstEnd.IsZero() {
		took = firstEnd.Sub(lastStart)
	}
	w.Min = 0
	late := e.late.Worst()
	unwidened := w
	w = takerLate(w, late)
	r.Bound = w.String() + ", the shortest of its members'"
	r.Measured = fmt.Sprintf("master on %s after %s", e.nodeName(nodes[0]), roundMs(took))
	r.Elapsed = bench.Seconds(took)
	switch {
	case took < 0:
		r.Status, r.Reason = Inconclusive, "no member's takeover was seen"
	case unwidened.Max < late:
		r.Status, r.Reason = NotChecked, fmt.Sprintf("not checked here, on this host: timers ran up to %s late, more than the bound", roundMs(late))
	case !w.Holds(took):
		r.Status, r.Reason = Fail, fmt.Sprintf("took %s, outside %s", roundMs(took), w)
	default:
		r.Status = Pass
	}
	return r
}

// instanceSubjects are what an instance's election rests on: its
// interfaces in every director.
func (e *env) instanceSubjects(names ...string) []string {
	var out []string
	for _, d := range e.b.Directors {
		for _, in := range d.Conf.Instances {
			if slices.Contains(names, in.Name) {
				out = append(out, subjDev(d.Node, in.Interface.Value))
			}
		}
	}
	return out
}
