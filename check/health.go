//go:build linux

package check

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/lvslab/lvslab/harness"
	"github.com/lvslab/lvslab/harness/keepalived/conf"
)

// Health checks: each kind of checker of each virtual service is put
// through the faults that apply to it, on one real server; the director
// that holds the service's address must take the server out within the
// window its file gives keepalived, and put it back within the window of
// the recovery checks. The sorry server, MISC_CHECK scripts and what the
// lab cannot emulate follow.

// health runs the health checks.
func (e *env) health() []Result {
	e.settleCheckers()
	e.settleHolders()
	ctx, stop := context.WithCancel(e.ctx)
	defer stop()
	watches := e.watchTables(ctx)
	cases, out := e.healthPlan()
	out = append(out, e.vmacResults()...)
	out = append(out, e.haSuspendResults(watches)...)
	out = append(out, e.runLanes(cases, watches)...)
	out = append(out, e.sorryResults(watches)...)
	return out
}

// judged is a case as one director's file gives it, with the director
// that holds its service and judges it.
type judged struct {
	healthCase
	holder string
	// miscAt is, by director node, the line of the MISC_CHECK's
	// misc_path whose stub faultScript fails.
	miscAt map[string]Pos
}

// healthPlan is every director's plan, one case per ID, judged on the
// director that holds the case's service, with that director's lines.
func (e *env) healthPlan() ([]judged, []Result) {
	plans := map[string][]healthCase{}
	var ids []string
	var skipped []Result
	for _, d := range e.b.Directors {
		cases, sk := planHealth(d.Conf)
		plans[d.Node] = cases
		for _, c := range cases {
			if !slices.Contains(ids, c.ID) {
				ids = append(ids, c.ID)
			}
		}
		for _, r := range sk {
			if !slices.ContainsFunc(skipped, func(s Result) bool { return s.ID == r.ID }) {
				skipped = append(skipped, r)
			}
		}
	}
	var out []judged
	for _, id := range ids {
		var first *healthCase
		miscAt := map[string]Pos{}
		for _, d := range e.b.Directors {
			if i := slices.IndexFunc(plans[d.Node], func(c healthCase) bool { return c.ID == id }); i >= 0 {
				if first == nil {
					first = &plans[d.Node][i]
				}
				if plans[d.Node][i].Fault == faultScript {
					miscAt[d.Node] = posOf(plans[d.Node][i].Misc)
				}
			}
		}
		holder := e.holderOf(first.Service)
		c := *first
		if i := slices.IndexFunc(plans[holder], func(c healthCase) bool { return c.ID == id }); i >= 0 {
			c = plans[holder][i]
		}
		out = append(out, judged{healthCase: c, holder: holder, miscAt: miscAt})
	}
	return out, skipped
}

// holderOf is the director that holds a service's address now (the
// master of its instance), or the first director when none does (a
// firewall-mark service, a lone director).
func (e *env) holderOf(s Service) string {
	if len(s.Addrs) > 0 {
		if n := e.holder(s.Addrs[0]); n != "" {
			return n
		}
	}
	for _, name := range e.instanceNames() {
		if m := e.masters(name); len(m) == 1 {
			return m[0]
		}
	}
	return e.b.Directors[0].Node
}

// settleHolders waits, a few seconds at most, until the directors that
// hold the services' addresses stay the same for a second: a pair booted
// together may swap masters once before it settles, and each case is
// judged on the holder.
func (e *env) settleHolders() {
	holders := func() []string {
		var out []string
		for _, s := range e.d.Services {
			out = append(out, e.holderOf(s))
		}
		return out
	}
	last := holders()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && e.ctx.Err() == nil; {
		time.Sleep(time.Second)
		now := holders()
		if slices.Equal(now, last) {
			return
		}
		last = now
	}
}

// nodeOf is the real-server node that holds an address.
func (e *env) nodeOf(a netip.Addr) string {
	for _, sp := range e.d.Servers {
		if slices.Contains(sp.Addrs, a) {
			return sp.Node
		}
	}
	return ""
}

// healthSubjects are what a health check of a real server rests on: what
// its application answers on the ports, and, when no director's subnet
// holds it, its placement behind a router. A checker on a director's own
// subnet talks to it on the link, whatever its gateway.
func (e *env) healthSubjects(a netip.Addr, ports ...uint16) []string {
	var out []string
	for _, p := range ports {
		out = append(out, subjApp(a, p))
	}
	for _, sp := range e.d.Servers {
		if slices.Contains(sp.Addrs, a) {
			if s := e.d.segByName(sp.Segment); s == nil || s.remote {
				out = append(out, subjReal(a))
			}
		}
	}
	return out
}

// runLanes runs the cases: those of one real-server node in turn, nodes
// at once as long as together they keep every service's quorum.
func (e *env) runLanes(cases []judged, watches map[string]*tableWatch) []Result {
	var nodes []string
	byNode := map[string][]judged{}
	for _, c := range cases {
		n := e.nodeOf(c.Target.Addr.Addr())
		if !slices.Contains(nodes, n) {
			nodes = append(nodes, n)
		}
		byNode[n] = append(byNode[n], c)
	}
	loads, live, rules := e.laneLoads(nodes, watches)
	results := make([][]Result, len(nodes))
	for _, batch := range batchLanes(loads, live, rules) {
		var wg sync.WaitGroup
		for _, i := range batch {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for _, c := range byNode[nodes[i]] {
					if e.ctx.Err() != nil {
						return
					}
					e.step("health: %s", c.ID)
					results[i] = append(results[i], e.runCase(c, watches))
				}
			}()
		}
		wg.Wait()
	}
	var out []Result
	for _, c := range cases {
		for _, rs := range results {
			if i := slices.IndexFunc(rs, func(r Result) bool { return r.ID == c.ID }); i >= 0 {
				out = append(out, rs[i])
			}
		}
	}
	return out
}

// laneLoads are what each node's faults take out of each service of the
// director that holds it, with the services' live weights now and their
// quorum rules.
func (e *env) laneLoads(nodes []string, watches map[string]*tableWatch) ([]laneLoad, map[string]int, map[string]quorumRule) {
	loads := make([]laneLoad, len(nodes))
	for i := range loads {
		loads[i] = laneLoad{}
	}
	live, rules := map[string]int{}, map[string]quorumRule{}
	for _, s := range e.d.Services {
		holder := e.holderOf(s)
		vs, ok := e.virtualServer(holder, s)
		if !ok {
			continue
		}
		var weights []int
		for _, r := range s.Reals {
			weights = append(weights, r.Weight)
		}
		rules[s.Key] = quorumOf(vs, weights)
		snap, _ := watches[holder].fresh(e.ctx)
		for _, r := range s.Reals {
			st := stateOf(snap.table, s, r.Addr, r.Port)
			if st.live() {
				live[s.Key] += st.Weight
			}
			if i := slices.Index(nodes, e.nodeOf(r.Addr)); i >= 0 {
				loads[i][s.Key] += r.Weight
			}
		}
	}
	return loads, live, rules
}

// virtualServer is the virtual_server of a director's file that makes s.
func (e *env) virtualServer(node string, s Service) (conf.VirtualServer, bool) {
	for _, d := range e.b.Directors {
		if d.Node != node {
			continue
		}
		for _, vs := range d.Conf.VirtualServers {
			for _, ds := range servicesOfConf(d.Conf) {
				if ds.Key == s.Key && ds.Pos == posOf(vs.Pos) {
					return vs, true
				}
			}
		}
	}
	return conf.VirtualServer{}, false
}

// haSuspendResults show, for each service with ha_suspend, the table of
// each director that does not hold it: its checkers wait for the address,
// so after a failover it starts from what it holds now.
func (e *env) haSuspendResults(watches map[string]*tableWatch) []Result {
	var out []Result
	for _, s := range e.d.Services {
		holder := e.holderOf(s)
		vs, ok := e.virtualServer(holder, s)
		if !ok || !vs.HASuspend.Value || len(e.b.Directors) < 2 {
			continue
		}
		r := Result{ID: "health/" + s.Key + "/ha-suspend", Group: GroupHealth, Where: []Pos{posOf(vs.HASuspend.Pos)},
			Title:  fmt.Sprintf("%s with ha_suspend: the table of the director without its address, as it is", s.Key),
			Status: NotChecked, Reason: "shown, not judged: with ha_suspend a director runs no checker of the service until it holds its address; " +
				"what it does after a failover is the failover checks' to judge"}
		var parts []string
		for _, d := range e.b.Directors {
			if d.Node == holder {
				continue
			}
			snap, err := watches[d.Node].fresh(e.ctx)
			if err != nil {
				parts = append(parts, fmt.Sprintf("%s: %v", d.Name, err))
				continue
			}
			var reals []string
			for _, rr := range s.Reals {
				reals = append(reals, fmt.Sprintf("%s %s", netip.AddrPortFrom(rr.Addr, rr.Port), stateOf(snap.table, s, rr.Addr, rr.Port)))
			}
			if s.Sorry != nil {
				reals = append(reals, fmt.Sprintf("sorry %s %s", netip.AddrPortFrom(s.Sorry.Addr, s.Sorry.Port), stateOf(snap.table, s, s.Sorry.Addr, s.Sorry.Port)))
			}
			parts = append(parts, fmt.Sprintf("%s: %s", d.Name, strings.Join(reals, ", ")))
		}
		r.Measured = strings.Join(parts, "; ")
		out = append(out, r)
	}
	return out
}

// vmacResults say which use_vmac the lab cannot build: keepalived makes
// a macvlan link per instance, which needs the kernel's macvlan module.
func (e *env) vmacResults() []Result {
	var out []Result
	for _, d := range e.b.Directors {
		for _, in := range d.Conf.Instances {
			if !in.UseVMAC.Value {
				continue
			}
			if err := e.tryMacvlan(d.Node, in.Interface.Value); err != nil {
				out = append(out, Result{ID: "health/" + in.Name + "/use_vmac", Group: GroupHealth, Where: []Pos{posOf(in.UseVMAC.Pos)},
					Title:  fmt.Sprintf("%s's use_vmac on %s", in.Name, d.Name),
					Status: NotChecked, Reason: fmt.Sprintf("the kernel under test makes no macvlan link (%v): use_vmac is not emulated until its module loads", err)})
			}
		}
	}
	return out
}

// tryMacvlan makes a macvlan link on dev in a director and removes it.
func (e *env) tryMacvlan(node, dev string) error {
	h := e.lab.Node(node).Netlink()
	parent, err := h.LinkByName(dev)
	if err != nil {
		return err
	}
	l := &netlink.Macvlan{LinkAttrs: netlink.LinkAttrs{Name: "lvslab-vmac", ParentIndex: parent.Attrs().Index}, Mode: netlink.MACVLAN_MODE_PRIVATE}
	if err := h.LinkAdd(l); err != nil {
		return err
	}
	return h.LinkDel(l)
}

// waitFor waits at most d after since for a director's table to hold
// the real server as match wants.
func waitFor(ctx context.Context, w *tableWatch, since time.Time, d time.Duration, s Service, r RealRef, match func(realState) bool) (snapshot, bool) {
	snap, err := w.waitUntil(ctx, since, d, func(t []harness.ServiceState) bool { return match(stateOf(t, s, r.Addr, r.Port)) })
	return snap, err == nil
}
