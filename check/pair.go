//go:build linux

package check

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/lvslab/lvslab/harness"
	"github.com/lvslab/lvslab/harness/keepalived"
)

// The failover, sync and tracking groups upset a running pair. Each
// starts from the pair at rest (keepalived running in both directors,
// each instance's master the one the priorities predict) and leaves it
// so, or says it could not.

// onePair is why the pair checks cannot run: "" for a pair.
func (e *env) onePair() string {
	switch len(e.b.Directors) {
	case 2:
		return ""
	case 1:
		return "one director: nothing to fail over to"
	}
	return fmt.Sprintf("%d directors: the lab fails over a pair", len(e.b.Directors))
}

// home is the master of each instance (by name) when the pair is at
// rest: a director node.
type home map[string]string

// other is the pair's director that is not node.
func (e *env) other(node string) string {
	for _, d := range e.b.Directors {
		if d.Node != node {
			return d.Node
		}
	}
	return ""
}

// instanceVIPs are the addresses an instance holds, in either file.
func (e *env) instanceVIPs(name string) []netip.Addr {
	var out []netip.Addr
	for _, d := range e.b.Directors {
		if in, ok := instance(d.Conf, name); ok {
			for _, v := range in.VIPs {
				if a := v.Prefix.Addr(); !slices.Contains(out, a) {
					out = append(out, a)
				}
			}
		}
	}
	return out
}

// holdersOf are the running directors that hold an address on a link.
// A crashed director keeps its VIPs, as a hung machine would: it holds
// nothing that reaches anyone.
func (e *env) holdersOf(a netip.Addr) []string {
	var out []string
	for _, n := range e.lab.Directors() {
		if k := e.daemons[n.Name]; k == nil || k.Down() {
			continue
		}
		for _, l := range n.Links {
			if harness.HasAddr(n, l.Dev(), a) {
				out = append(out, n.Name)
				break
			}
		}
	}
	return out
}

// mastersOf are the running directors that are master of an instance:
// those holding its first VIP, or, without VIPs, those whose last event
// said MASTER.
func (e *env) mastersOf(name string) []string {
	if vips := e.instanceVIPs(name); len(vips) > 0 {
		return e.holdersOf(vips[0])
	}
	return slices.DeleteFunc(e.masters(name), func(n string) bool { return e.daemons[n] == nil || e.daemons[n].Down() })
}

// sides are the directors' views of an instance for a prediction, with
// the scripts bad names failing on a node and the nodes down names out.
func (e *env) sides(name string, bad map[string]func(string) bool, down ...string) []side {
	var out []side
	for _, d := range e.b.Directors {
		in, ok := instance(d.Conf, name)
		if !ok {
			continue
		}
		p := predictDirector(d.Conf, bad[d.Node])[name]
		out = append(out, side{Node: d.Node, Priority: p.Priority, Fault: p.Fault || slices.Contains(down, d.Node),
			Preempt: preemptionOf(d.Conf, in), Timing: timingOf(d.Conf, in)})
	}
	return out
}

// sideOf is node's side of an instance.
func sideOf(sides []side, node string) (side, bool) {
	i := slices.IndexFunc(sides, func(s side) bool { return s.Node == node })
	if i < 0 {
		return side{}, false
	}
	return sides[i], true
}

// longestMasterDown is the longest Master_Down_Interval of any instance
// on any director: how long an election can take.
func (e *env) longestMasterDown() time.Duration {
	var md time.Duration
	for _, name := range e.instanceNames() {
		for _, s := range e.sides(name, nil) {
			md = max(md, s.Timing.masterDown(s.Priority))
		}
	}
	return md
}

// awaitHome waits until every instance has one master, the one the
// priorities predict (whichever won a tie), and returns them: at most
// the longest Master_Down_Interval after the last instance entered its
// first state (keepalived may take seconds to get there under emulation).
func (e *env) awaitHome() (home, error) {
	late := e.late.Worst()
	last := e.lastInit()
	deadline := last.Add(e.longestMasterDown() + late + 2*time.Second)
	if soon := time.Now().Add(late + 2*time.Second); soon.After(deadline) {
		deadline = soon
	}
	for {
		h, why := e.atRest()
		if why == "" {
			return h, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the pair is not at rest %s after its last instance started: %s", roundMs(time.Since(last)), why)
		}
		if err := sleepCtx(e.ctx, 50*time.Millisecond); err != nil {
			return nil, err
		}
	}
}

// lastInit waits until every instance of each director's keepalived has
// entered its first state since it started (at most 20 s) and returns
// when the last one did.
func (e *env) lastInit() time.Time {
	ctx, cancel := context.WithTimeout(e.ctx, 20*time.Second)
	defer cancel()
	var last time.Time
	for _, d := range e.b.Directors {
		for _, in := range d.Conf.Instances {
			ev, err := e.firstState(ctx, d.Node, in.Name, e.daemons[d.Node].StartedAt())
			if err == nil && ev.At.After(last) {
				last = ev.At
			}
		}
	}
	if last.IsZero() {
		return time.Now()
	}
	return last
}

// atRest says who is master of each instance, or why the pair is not at
// rest.
func (e *env) atRest() (home, string) {
	h := home{}
	for _, name := range e.instanceNames() {
		masters := e.mastersOf(name)
		if len(masters) != 1 {
			return nil, fmt.Sprintf("%s has %d masters (%s)", name, len(masters), strings.Join(masters, ", "))
		}
		cs := e.candidates(name)
		slices.SortStableFunc(cs, func(a, b candidate) int { return b.priority - a.priority })
		if len(cs) > 1 && cs[0].priority > cs[1].priority && cs[0].dir.Node != masters[0] {
			return nil, fmt.Sprintf("%s's master is %s, not %s", name, masters[0], cs[0].dir.Node)
		}
		h[name] = masters[0]
	}
	return h, ""
}

// waitHome waits up to d for every instance's master to be h's.
func (e *env) waitHome(h home, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if got, why := e.atRest(); why == "" && equalHome(got, h) {
			return true
		}
		if time.Now().After(deadline) || sleepCtx(e.ctx, 50*time.Millisecond) != nil {
			return false
		}
	}
}

func equalHome(a, b home) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// mainMaster is the director that is home master of the most instances
// (the first director's on a tie), and those instances.
func (e *env) mainMaster(h home) (string, []string) {
	count := map[string]int{}
	for _, node := range h {
		count[node]++
	}
	best := ""
	for _, d := range e.b.Directors {
		if best == "" || count[d.Node] > count[best] {
			best = d.Node
		}
	}
	var names []string
	for _, name := range e.instanceNames() {
		if h[name] == best {
			names = append(names, name)
		}
	}
	return best, names
}

// startDaemon starts keepalived in a director again and waits until
// each of its instances has entered its first state, which starts its
// timers. It returns when keepalived started.
func (e *env) startDaemon(node string) (time.Time, error) {
	k := e.daemons[node]
	if err := k.Start(); err != nil {
		return time.Time{}, err
	}
	started := k.StartedAt()
	ctx, cancel := context.WithTimeout(e.ctx, 5*time.Second+e.late.Worst())
	defer cancel()
	for _, name := range e.instanceNames() {
		if _, err := e.firstState(ctx, node, name, started); err != nil {
			return started, fmt.Errorf("keepalived in %s started, but %s entered no state: %w", node, name, err)
		}
	}
	return started, nil
}

// firstState is an instance's first BACKUP or FAULT event on a node
// since an instant: keepalived's init, from which its Master_Down timer
// runs.
// firstEventWait bounds the wait for a restarted keepalived's first
// event: its timers start then, though under TCG that is seconds after
// the exec.
const firstEventWait = 10 * time.Second

func (e *env) firstState(ctx context.Context, node, name string, since time.Time) (keepalived.Event, error) {
	return e.events.WaitEvent(ctx, since, func(ev keepalived.Event) bool {
		return ev.Director == node && ev.Kind == "INSTANCE" && ev.Name == name && (ev.State == "BACKUP" || ev.State == "FAULT")
	})
}

// reboot gives a crashed director a fresh namespace, as a machine that
// restarted has (no IPVS table, no connection entries, no VIP), and
// opens IPVS there again; keepalived is started after.
func (e *env) reboot(node string) error {
	e.addrs.unwatch(node)
	if d := e.ipvs[node]; d != nil {
		d.Close()
		delete(e.ipvs, node)
	}
	if err := e.lab.Reboot(node); err != nil {
		return err
	}
	n := e.lab.Node(node)
	if err := e.openIPVS(n); err != nil {
		return err
	}
	return e.addrs.watch(n)
}

// restore brings the pair back to rest at h, both directors running:
// a preferred master that runs takes its instances back by itself
// (within its Master_Down_Interval, or after preempt_delay); under
// nopreempt the director in its place is stopped gracefully and started
// again, as an operator would.
func (e *env) restore(h home) error {
	for _, d := range e.b.Directors {
		if e.daemons[d.Node].Down() {
			if _, err := e.startDaemon(d.Node); err != nil {
				return err
			}
		}
	}
	late := e.late.Worst()
	var wait time.Duration
	for name, node := range h {
		if s, ok := sideOf(e.sides(name, nil), node); ok {
			wait = max(wait, preemptWindow(s).Max)
		}
	}
	if e.waitHome(h, wait+late+time.Second) {
		return nil
	}
	got, _ := e.atRest()
	for _, d := range e.b.Directors {
		usurps := false
		for name, node := range got {
			usurps = usurps || (node == d.Node && h[name] != d.Node)
		}
		if !usurps {
			continue
		}
		e.step("bringing the pair back: stopping %s, which holds instances under nopreempt", d.Name)
		if err := e.daemons[d.Node].Stop(); err != nil {
			return err
		}
		if _, err := e.startDaemon(d.Node); err != nil {
			return err
		}
	}
	if !e.waitHome(h, e.longestMasterDown()+late+time.Second) {
		_, why := e.atRest()
		return fmt.Errorf("the pair did not come back to rest: %s", why)
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
