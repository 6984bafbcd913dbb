//go:build linux

package check

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/lvslab/lvslab/bench"
	"github.com/lvslab/lvslab/harness"
	"github.com/lvslab/lvslab/harness/ipvsadm"
)

// Balance: each service spreads its clients as its scheduler promises
// (balance_rules.go says what each promises and how close is close
// enough), measured through the service from the lab's client.

const (
	// balanceSample is how many services a large table has measured.
	balanceSample = 50
	// minRounds and minRoundRequests set the length of an rr or wrr
	// measurement: whole rounds, at least 20 requests.
	minRounds        = 5
	minRoundRequests = 20
	// stickyRequests is how many connections each client address makes
	// to a sticky service, one after another.
	stickyRequests = 4
)

func (e *env) balance() []Result {
	return e.sampled(GroupBalance, balanceSample, e.balanceOne, func(left, chosen int) string {
		return fmt.Sprintf("%d of %d services not measured: a sample of %d was (the first of each scheduler, protocol and persistence, the rest evenly spread over the table)",
			left, len(e.d.Services), chosen)
	})
}

// sampled runs one check on a sample of at most n services and says, as
// not checked, how many it left out and why (unsampled).
func (e *env) sampled(group string, n int, one func(Service) Result, unsampled func(left, chosen int) string) []Result {
	chosen := sampleServices(e.d.Services, n)
	var out []Result
	start := time.Now()
	for i, s := range chosen {
		if len(chosen) > 10 && i%10 == 0 {
			e.stepOf(group+", services", i, len(chosen), start)
		}
		out = append(out, one(s))
		if e.ctx.Err() != nil {
			return out
		}
	}
	if left := len(e.d.Services) - len(chosen); left > 0 {
		out = append(out, Result{ID: group + "/unsampled", Group: group, Title: "the services not in the sample",
			Status: NotChecked, Reason: unsampled(left, len(chosen))})
	}
	return out
}

func (e *env) balanceOne(s Service) (r Result) {
	r = Result{ID: "balance/" + s.Key, Group: GroupBalance, Title: s.Key + " spreads clients as its scheduler promises", Where: []Pos{s.Pos}}
	t0 := time.Now()
	defer func() { r.Elapsed = bench.Seconds(time.Since(t0)) }()
	t, node, st, ok := e.serviceUnderLoad(s, &r)
	if !ok {
		return r
	}
	lv := live(st)
	portHash := st.Flags&ipvsadm.FlagSched2 != 0
	rule, why := ruleOf(st.Scheduler, st.Persistent, portHash)
	switch {
	case rule == ruleNone:
		r.Status, r.Reason = NotChecked, why
		return r
	case len(lv) == 0:
		r.Status, r.Reason = Fail, fmt.Sprintf("%s has no live real server for %s", node, t)
		return r
	case len(lv) == 1 && rule != ruleByDest && rule != ruleHighest:
		r.Status, r.Reason = NotChecked, fmt.Sprintf("one live real server in %s: nothing to spread", node)
		return r
	}
	switch rule {
	case ruleRounds:
		e.balanceRounds(&r, t, st, lv)
	case ruleLeast:
		e.balanceLeast(&r, node, t, st, lv)
	default:
		e.balanceSticky(&r, t, st, lv, rule)
	}
	return r
}

// serviceSubjects are what a check through a service rests on.
func (e *env) serviceSubjects(s Service, a netip.Addr) []string {
	var subjects []string
	for _, rr := range s.Reals {
		subjects = append(subjects, subjReal(rr.Addr), subjApp(rr.Addr, rr.Port))
	}
	return append(subjects, e.vipSubjects(a)...)
}

// balanceRounds: whole rounds of new connections, one at a time, give
// each server its share (rr one, wrr weight/gcd).
func (e *env) balanceRounds(r *Result, t target, st harness.ServiceState, lv []harness.RealState) {
	shares := roundShares(st.Scheduler, weightsOf(lv))
	perRound := 0
	for _, s := range shares {
		perRound += s
	}
	rounds := max(minRounds, (minRoundRequests+perRound-1)/perRound)
	want := make([]int, len(shares))
	var parts []string
	for i, s := range shares {
		want[i] = rounds * s
		parts = append(parts, fmt.Sprintf("%s %d", lv[i].Addr, want[i]))
	}
	n := rounds * perRound
	r.Bound = fmt.Sprintf("%d rounds of %d new connections, one at a time: %s, each ±%d (%s is deterministic; ±%d for a port IPVS still holds, which conn_reuse_mode 0 sends back unscheduled)",
		rounds, perRound, strings.Join(parts, ", "), roundsTolerance, st.Scheduler, roundsTolerance)
	srcs := e.sources(t.addr.Addr().Is6())
	replies := e.askAll(e.ctx, t, n, 1, func(i int) netip.Addr { return srcs[i%len(srcs)] })
	counts := tallyReplies(replies)
	got := make([]int, len(lv))
	for i, name := range namesOf(lv) {
		got[i] = counts[name]
	}
	r.Measured = fmt.Sprintf("%d requests: %s", n, tally(counts))
	if failed, errs := failures(replies); failed > 0 {
		r.Status, r.Reason = Fail, fmt.Sprintf("%d of %d requests failed: %s", failed, n, errs)
		return
	}
	if bad := judgeCounts(namesOf(lv), want, got, roundsTolerance); len(bad) > 0 {
		r.Status, r.Reason = Fail, "off its share: "+strings.Join(bad, ", ")
		return
	}
	r.Status = Pass
}

// balanceLeast holds K connections open, opened one at a time, and reads
// each server's active connections from the director's table: the
// scheduler's rule picks where each goes (UDP: IPVS counts a UDP entry as
// an inactive connection, and lc and wlc count those too).
func (e *env) balanceLeast(r *Result, node string, t target, st harness.ServiceState, lv []harness.RealState) {
	weights := weightsOf(lv)
	k := heldConnections(weights)
	udp := t.proto == "udp"
	if udp && (st.Scheduler == "sed" || st.Scheduler == "nq") {
		r.Status, r.Reason = NotChecked, st.Scheduler+" counts active connections only, and IPVS counts UDP entries as inactive: every datagram goes the same way, there is no spread to measure"
		return
	}
	count := func(rs harness.RealState) int {
		if udp {
			return rs.Inactive
		}
		return rs.Active
	}
	base := make([]int, len(lv))
	for i, x := range lv {
		base[i] = count(x)
	}
	srcs := e.sources(t.addr.Addr().Is6())
	seen := map[string]int{}
	var failed []string
	if udp {
		replies := e.askAll(e.ctx, t, k, 1, func(i int) netip.Addr { return srcs[i%len(srcs)] })
		seen = tallyReplies(replies)
		if n, errs := failures(replies); n > 0 {
			failed = append(failed, errs)
		}
	} else {
		for i := range k {
			c, server, err := askHTTP(e.ctx, e.lab.Client(), t, srcs[i%len(srcs)], true)
			if err != nil {
				failed = append(failed, err.Error())
				continue
			}
			defer c.Close()
			seen[server]++
		}
	}
	after, err := e.ipvs[node].State(st.Service)
	if err != nil {
		r.Status, r.Reason = Inconclusive, err.Error()
		return
	}
	got := make([]int, len(lv))
	for i, x := range lv {
		if j := slices.IndexFunc(after.Reals, func(a harness.RealState) bool { return a.Addr == x.Addr && a.Port == x.Port }); j >= 0 {
			got[i] = count(after.Reals[j])
		}
	}
	want := leastShares(st.Scheduler, weights, base, k)
	kind := "active"
	if udp {
		kind = "inactive (UDP)"
	}
	var parts []string
	for i, name := range namesOf(lv) {
		parts = append(parts, fmt.Sprintf("%s %d→%d", name, base[i], got[i]))
	}
	what := "connections held, opened one at a time"
	if udp {
		what = "datagrams, each from a new socket, one at a time"
	}
	r.Bound = fmt.Sprintf("%d %s: %s's picks from the %s counts before give %s, each ±%d (a tie may fall either way)",
		k, what, st.Scheduler, kind, tallyInts(namesOf(lv), want), leastTolerance)
	r.Measured = fmt.Sprintf("%s connections in %s's table: %s; answers: %s", kind, node, strings.Join(parts, ", "), tally(seen))
	if len(failed) > 0 {
		r.Status, r.Reason = Fail, fmt.Sprintf("%d of %d connections failed: %s", len(failed), k, strings.Join(failed[:min(3, len(failed))], "; "))
		return
	}
	if bad := judgeCounts(namesOf(lv), want, got, leastTolerance); len(bad) > 0 {
		r.Status, r.Reason = Fail, "not as "+st.Scheduler+" picks: "+strings.Join(bad, ", ")
		return
	}
	r.Status = Pass
}

func tallyInts(names []string, n []int) string {
	m := map[string]int{}
	for i, name := range names {
		m[name] = n[i]
	}
	return tally(m)
}

// balanceSticky: every client address makes stickyRequests connections;
// by source (sh, mh, persistence), each keeps one server and together
// they spread; by destination (dh, lblc) and by weight (fo, ovf),
// all go to one server.
func (e *env) balanceSticky(r *Result, t target, st harness.ServiceState, lv []harness.RealState, rule balanceRule) {
	v6 := t.addr.Addr().Is6()
	srcs := e.sources(v6)
	bits := t.addr.Addr().BitLen()
	if st.Persistent && st.PersistenceBits > 0 {
		bits = st.PersistenceBits
	}
	n := len(srcs) * stickyRequests
	// By destination and by weight, a server with more active connections
	// than its weight is overloaded and passed over: one at a time.
	par := 1
	if rule == ruleBySource {
		par = probeParallel
	}
	// A round holds one connection per client address, and the next
	// round starts when it is done: IPVS looks a persistence template up
	// and then creates one, with no lock between (ip_vs_core.c,
	// ip_vs_sched_persist), so a client's concurrent first connections
	// can each create one and go to different servers. What persistence
	// promises is the server of a template that exists.
	var replies []reply
	for range stickyRequests {
		replies = append(replies, e.askAll(e.ctx, t, len(srcs), par, func(i int) netip.Addr { return srcs[i] })...)
	}
	obs := stickyObs{}
	for _, rep := range replies {
		if rep.err == nil {
			g, _ := rep.src.Prefix(bits)
			obs.add(g, rep.server)
		}
	}
	r.Measured = fmt.Sprintf("%d requests from %d client addresses: %s", n, len(srcs), tally(tallyReplies(replies)))
	if failed, errs := failures(replies); failed > 0 {
		r.Status, r.Reason = Fail, fmt.Sprintf("%d of %d requests failed: %s", failed, n, errs)
		return
	}
	var bad []string
	switch rule {
	case ruleBySource:
		by := st.Scheduler + " hashes the client's address"
		if st.Persistent {
			by = fmt.Sprintf("persistence %s keeps a client (/%d) on its server", st.Persistence, bits)
		}
		r.Bound = fmt.Sprintf("each client address keeps one server over %d connections (%s); the clients spread over the servers unless their weights make one server likely for all (chance ≥ %g)",
			stickyRequests, by, spreadChance)
		var note string
		bad, note = judgeSticky(obs, weightsOf(lv))
		r.Measured += "; " + note
	case ruleByDest:
		r.Bound = fmt.Sprintf("every connection to %s goes to one server (%s picks by destination, and connections one at a time never overload it)", t.addr.Addr(), st.Scheduler)
		bad = judgeOne(obs, nil)
	case ruleHighest:
		top := slices.Max(weightsOf(lv))
		var want []string
		for _, x := range lv {
			if x.Weight == top {
				want = append(want, x.Addr.String())
			}
		}
		r.Bound = fmt.Sprintf("every connection goes to the highest-weight server, %s (%s; connections one at a time never pass its weight)", strings.Join(want, " or "), st.Scheduler)
		bad = judgeOne(obs, want)
	}
	if len(bad) > 0 {
		r.Status, r.Reason = Fail, strings.Join(bad, "; ")
		return
	}
	r.Status = Pass
}

// serviceUnderLoad finds the address a check loads service s through and
// the service as the director holding it has it; when there is none to
// load, it says why in r.
func (e *env) serviceUnderLoad(s Service, r *Result) (t target, node string, st harness.ServiceState, ok bool) {
	if !s.Checked {
		r.Status, r.Reason = NotChecked, s.Why
		return t, "", st, false
	}
	targets := e.targetsOf(s)
	if len(targets) == 0 {
		r.Status, r.Reason = NotChecked, "no address is marked for it in the captured firewall rules"
		return t, "", st, false
	}
	t = targets[0]
	r.RestsOn = e.d.RestsOn(e.serviceSubjects(s, t.addr.Addr())...)
	node, st, err := e.serviceState(s, t)
	if err != nil {
		r.Status, r.Reason = Fail, err.Error()
		return t, "", st, false
	}
	return t, node, st, true
}
