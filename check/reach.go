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
	"github.com/lvslab/lvslab/harness"
	"github.com/lvslab/lvslab/harness/ipvsadm"
	"github.com/lvslab/lvslab/harness/keepalived"
	"github.com/lvslab/lvslab/loadgen"
)

// Reach and the table: every virtual service answers from the client
// through each of its real servers, and the director's IPVS table holds
// what the file says.

// reachAddrs is how many addresses of a group's range are probed.
const reachAddrs = 4

// holder is the director node that holds a, or "" (the rules director
// serves every VIP).
func (e *env) holder(a netip.Addr) string {
	if h := e.d.vipHolder(); h != nil {
		return h.Node
	}
	for _, n := range e.lab.Directors() {
		for _, l := range n.Links {
			if harness.HasAddr(n, l.Dev(), a) {
				return n.Name
			}
		}
	}
	return ""
}

// tableOf reads a director's IPVS table.
func (e *env) tableOf(node string) ([]harness.ServiceState, error) {
	d := e.ipvs[node]
	if d == nil {
		return nil, fmt.Errorf("no director %s", node)
	}
	return d.Services()
}

// liveReals are the real servers with weight above 0 of the service on
// addr in a table.
func liveReals(table []harness.ServiceState, s Service, addr netip.Addr) []harness.RealState {
	for _, st := range table {
		if s.FWMark != 0 && int(st.FWMark) == s.FWMark || st.FWMark == 0 && st.Addr == addr && st.Port == s.Port && st.Protocol == s.Protocol {
			return live(st)
		}
	}
	return nil
}

// table checks each director's IPVS table against the file, once the
// first health checks had their time.
func (e *env) table() []Result {
	if e.b.Rules != nil {
		return []Result{e.rulesTable()}
	}
	if len(e.d.Services) == 0 {
		return nil // nothing to compare: not checked, never a pass
	}
	e.settleCheckers()
	var out []Result
	for _, dir := range e.b.Directors {
		out = append(out, e.directorTable(dir))
	}
	return out
}

// settleCheckers waits until every checker is in its steady state
// (checkerTiming.settled).
func (e *env) settleCheckers() {
	var wait time.Duration
	for _, dir := range e.b.Directors {
		for _, vs := range dir.Conf.VirtualServers {
			for _, rs := range vs.Reals {
				for _, c := range rs.Checkers {
					wait = max(wait, timingOfChecker(vs, rs, c).settled())
				}
			}
		}
	}
	if since := time.Since(e.checkersStarted()); since < wait {
		e.step("waiting %s for every health checker's first check", roundMs(wait-since))
		select {
		case <-time.After(wait - since):
		case <-e.ctx.Done():
		}
	}
}

// checkersStarted is when the last director's keepalived was running:
// its first notify event, which under emulation comes seconds after the
// exec; the exec where it sent none.
func (e *env) checkersStarted() time.Time {
	var last time.Time
	for node, k := range e.daemons {
		t := k.StartedAt()
		if i := slices.IndexFunc(e.events.Events(), func(ev keepalived.Event) bool { return ev.Director == node && !ev.At.Before(t) }); i >= 0 {
			t = e.events.Events()[i].At
		}
		if t.After(last) {
			last = t
		}
	}
	return last
}

func (e *env) directorTable(dir *Director) Result {
	r := Result{ID: "table/" + dir.Name, Group: GroupTable, Title: fmt.Sprintf("%s's IPVS table holds the file's services and live real servers", dir.Name),
		Bound: "every service, scheduler, persistence; every real server the application keeps up, with its weight"}
	t0 := time.Now()
	table, err := e.tableOf(dir.Node)
	if err != nil {
		r.Status, r.Reason = Inconclusive, err.Error()
		return r
	}
	var diffs []string
	var subjects []string
	for _, s := range servicesOfConf(dir.Conf) {
		if s.FWMark != 0 {
			continue // keepalived's own; reach says why a mark is not checked
		}
		r.Where = append(r.Where, s.Pos)
		for _, a := range s.Addrs[:min(len(s.Addrs), reachAddrs)] {
			st, ok := findService(table, s, a)
			if !ok {
				diffs = append(diffs, fmt.Sprintf("%s %s is missing (%s)", s.Protocol, netip.AddrPortFrom(a, s.Port), s.Pos))
				continue
			}
			if st.Scheduler != s.Scheduler {
				diffs = append(diffs, fmt.Sprintf("%s schedules %s, the file says %s (%s)", st.Service, st.Scheduler, s.Scheduler, s.Pos))
			}
			if s.Persistence > 0 && st.Persistence != s.Persistence {
				diffs = append(diffs, fmt.Sprintf("%s persists %s, the file says %s (%s)", st.Service, st.Persistence, s.Persistence, s.Pos))
			}
			diffs = append(diffs, e.realDiffs(st, s)...)
		}
		for _, rr := range s.Reals {
			subjects = append(subjects, subjReal(rr.Addr), subjApp(rr.Addr, rr.Port))
		}
	}
	r.Elapsed = bench.Seconds(time.Since(t0))
	r.RestsOn = e.d.RestsOn(subjects...)
	if len(diffs) > 0 {
		r.Status, r.Reason, r.Measured = Fail, strings.Join(diffs, "; "), fmt.Sprintf("%d difference(s)", len(diffs))
	} else {
		r.Status, r.Measured = Pass, "as the file says"
	}
	return r
}

func findService(table []harness.ServiceState, s Service, a netip.Addr) (harness.ServiceState, bool) {
	i := slices.IndexFunc(table, func(st harness.ServiceState) bool {
		return st.FWMark == 0 && st.Addr == a && st.Port == s.Port && st.Protocol == s.Protocol
	})
	if i < 0 {
		return harness.ServiceState{}, false
	}
	return table[i], true
}

// realDiffs compares a service's real servers with the file: each one
// the application keeps up must be there with its weight; one it refuses
// must be out (or at weight 0 with inhibit_on_failure).
func (e *env) realDiffs(st harness.ServiceState, s Service) []string {
	var diffs []string
	for _, want := range s.Reals {
		i := slices.IndexFunc(st.Reals, func(r harness.RealState) bool { return r.Addr == want.Addr && r.Port == want.Port })
		entry, _ := e.b.Serve.For(want.Addr, want.Port)
		switch {
		case entry.Refuses && i >= 0 && st.Reals[i].Weight > 0:
			diffs = append(diffs, fmt.Sprintf("%s is in with weight %d though it refuses connections (%s)", netip.AddrPortFrom(want.Addr, want.Port), st.Reals[i].Weight, want.Pos))
		case entry.Refuses:
		case i < 0:
			diffs = append(diffs, fmt.Sprintf("%s is missing from %s (%s): see the director's keepalived log", netip.AddrPortFrom(want.Addr, want.Port), st.Service, want.Pos))
		case st.Reals[i].Weight != want.Weight:
			diffs = append(diffs, fmt.Sprintf("%s has weight %d, the file says %d (%s)", netip.AddrPortFrom(want.Addr, want.Port), st.Reals[i].Weight, want.Weight, want.Pos))
		}
	}
	return diffs
}

// rulesTable compares the restored table with the rules file.
func (e *env) rulesTable() Result {
	r := Result{ID: "table/director", Group: GroupTable, Title: "the director's IPVS table equals the rules file",
		Where: []Pos{{File: e.b.Rules.File}}, Bound: "equal"}
	table, err := e.rulesSnapshot()
	if err != nil {
		r.Status, r.Reason = Inconclusive, err.Error()
		return r
	}
	diffs := ipvsadm.DiffServices(e.b.Rules, table)
	if len(diffs) == 0 {
		r.Status, r.Measured = Pass, fmt.Sprintf("%d services equal", len(table))
		return r
	}
	r.Status, r.Measured = Fail, fmt.Sprintf("%d difference(s)", len(diffs))
	r.Reason = strings.Join(diffs[:min(len(diffs), 10)], "; ")
	return r
}

// reach sends requests from the client to each service and counts who
// answered; a large table is reached whole (reach_every.go).
func (e *env) reach() []Result {
	if len(e.d.Services) > reachEach {
		return e.reachEvery()
	}
	out := e.reachNotChecked()
	for _, s := range e.d.Services {
		if !s.Checked {
			continue
		}
		for _, t := range e.targetsOf(s) {
			out = append(out, e.reachOne(s, t))
			if e.ctx.Err() != nil {
				return out
			}
		}
	}
	return out
}

func (e *env) reachOne(s Service, t target) Result {
	a := t.addr.Addr()
	key := t.String()
	if s.FWMark != 0 {
		key = fmt.Sprintf("fwmark %d via %s", s.FWMark, t)
	}
	r := Result{ID: "reach/" + key, Group: GroupReach, Where: []Pos{s.Pos}, Title: key + " answers the client through every live real server"}
	var subjects []string
	for _, rr := range s.Reals {
		subjects = append(subjects, subjReal(rr.Addr), subjApp(rr.Addr, rr.Port))
	}
	subjects = append(subjects, e.vipSubjects(a)...)
	r.RestsOn = e.d.RestsOn(subjects...)
	node := e.holder(a)
	if node == "" {
		r.Status, r.Reason = Fail, fmt.Sprintf("no director holds %s", a)
		return r
	}
	table, err := e.tableOf(node)
	if err != nil {
		r.Status, r.Reason = Inconclusive, err.Error()
		return r
	}
	live := liveReals(table, s, a)
	r.Bound = fmt.Sprintf("every request answered, by each of the %d live real server(s) of %s", len(live), node)
	if len(live) == 0 {
		r.Status, r.Reason = Fail, fmt.Sprintf("%s has no live real server for %s", node, key)
		return r
	}
	t0 := time.Now()
	res, err := e.reachLoad(t, int64(max(40, 20*len(live))))
	r.Elapsed = bench.Seconds(time.Since(t0))
	if err != nil {
		r.Status, r.Reason = Inconclusive, err.Error()
		return r
	}
	var missing []string
	for _, lr := range live {
		if res.Servers[lr.Addr.String()] == 0 {
			missing = append(missing, netip.AddrPortFrom(lr.Addr, lr.Port).String())
		}
	}
	r.Measured = fmt.Sprintf("%d of %d answered; by %s", res.Successes, res.Requests, tally(res.Servers))
	switch {
	case res.Successes < res.Requests:
		r.Status, r.Reason = Fail, fmt.Sprintf("%d request(s) failed: %s", res.Requests-res.Successes, res.Errors)
	case len(missing) > 0 && s.Persistence > 0:
		r.Status, r.Reason = Pass, fmt.Sprintf("persistence kept the client's addresses off %s", strings.Join(missing, ", "))
	case len(missing) > 0 && !spreadsAll(s.Scheduler):
		r.Status, r.Reason = Pass, fmt.Sprintf("%s picks by address or weight, not in turn: it kept the client off %s (balance/%s checks its rule)",
			s.Scheduler, strings.Join(missing, ", "), s.Key)
	case len(missing) > 0:
		r.Status, r.Reason = Fail, "never answered: "+strings.Join(missing, ", ")
	default:
		r.Status = Pass
	}
	return r
}

// vipSubjects are what reaching a VIP rests on: the interfaces of every
// director that may hold it.
func (e *env) vipSubjects(a netip.Addr) []string {
	var out []string
	for _, d := range e.b.Directors {
		for _, in := range d.Conf.Instances {
			for _, v := range in.VIPs {
				if v.Prefix.Addr() == a {
					dev := v.Dev
					if dev == "" {
						dev = in.Interface.Value
					}
					out = append(out, subjDev(d.Node, dev))
				}
			}
		}
	}
	if h := e.d.vipHolder(); h != nil {
		out = append(out, subjDev(h.Node, h.addrs[0].dev))
	}
	return out
}

// reachCounts are what a reach load found.
type reachCounts struct {
	Requests, Successes int64
	Servers             map[string]int64
	Errors              string
}

// reachLoad sends n requests to a target, one connection (or UDP socket)
// each, from the client's addresses, bounded in time: HTTP through
// loadgen, UDP and HTTPS (which loadgen does not speak) as probes.
func (e *env) reachLoad(t target, n int64) (reachCounts, error) {
	sources := e.sources(t.addr.Addr().Is6())
	if t.proto == "udp" || t.tls {
		replies := e.askAll(e.ctx, t, int(n), probeParallel, func(i int) netip.Addr { return sources[i%len(sources)] })
		c := reachCounts{Requests: n, Servers: map[string]int64{}}
		for name, k := range tallyReplies(replies) {
			c.Servers[name] = int64(k)
			c.Successes += int64(k)
		}
		_, c.Errors = failures(replies)
		return c, nil
	}
	ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()
	res, err := loadgen.Run(ctx, loadgen.Config{Targets: []loadgen.Target{{Name: t.addr.Addr().String(), Addr: t.addr}},
		Sources: sources, Client: e.lab.Client(), Clients: 4, Requests: n, Duration: 20 * time.Second, Timeout: 3 * time.Second})
	if err != nil {
		return reachCounts{}, err
	}
	var errs []string
	for kind, k := range res.Errors {
		errs = append(errs, fmt.Sprintf("%d × %s", k, kind))
	}
	slices.Sort(errs)
	return reachCounts{Requests: res.Requests, Successes: res.Successes, Servers: res.Servers, Errors: strings.Join(errs, ", ")}, nil
}
