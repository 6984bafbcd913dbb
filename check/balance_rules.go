//go:build linux

package check

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"
)

// What each IPVS scheduler promises, as a rule the lab can hold it to
// (the schedulers' comments in the kernel's net/netfilter/ipvs/ip_vs_*.c
// and ipvsadm(8)), and the judgements of what was measured against it.
// Pure: no lab, no sockets.

// balanceRule is how a service's spread is judged.
type balanceRule int

const (
	// ruleRounds: rr and wrr hand out new connections in fixed rounds.
	ruleRounds balanceRule = iota
	// ruleLeast: lc, wlc, sed and nq pick by the connections each real
	// server holds.
	ruleLeast
	// ruleBySource: sh, mh and persistence keep a client on one server.
	ruleBySource
	// ruleByDest: dh and lblc keep a destination on one server (lblc
	// while it is not overloaded).
	ruleByDest
	// ruleHighest: fo and ovf send to the highest-weight server (ovf
	// until its active connections pass its weight).
	ruleHighest
	// ruleNone: nothing to hold it to.
	ruleNone
)

// ruleOf is the rule for a scheduler, or ruleNone and why.
func ruleOf(sched string, persistent, portHash bool) (balanceRule, string) {
	switch {
	case persistent:
		return ruleBySource, ""
	case (sched == "sh" || sched == "mh") && portHash:
		return ruleNone, sched + "-port hashes the client's port too: a client's connections spread over the servers by design, and no count is promised"
	}
	switch sched {
	case "rr", "wrr":
		return ruleRounds, ""
	case "lc", "wlc", "sed", "nq":
		return ruleLeast, ""
	case "sh", "mh":
		return ruleBySource, ""
	case "dh", "lblc":
		return ruleByDest, ""
	case "lblcr":
		return ruleNone, "lblcr sends a destination to the least loaded of a set of servers that grows under load and shrinks only after lblcr_expiration (a day by default): earlier load decides the set, so neither a spread nor one server is promised"
	case "fo", "ovf":
		return ruleHighest, ""
	case "twos":
		return ruleNone, "twos picks between two random servers: no count or stickiness is promised"
	}
	return ruleNone, fmt.Sprintf("scheduler %q: the lab knows no rule of it", sched)
}

// spreadsAll says whether a scheduler sends a client's connections to
// every live server in time (in turn, or by load), so that reach may ask
// each to answer.
func spreadsAll(sched string) bool {
	r, _ := ruleOf(sched, false, false)
	return r == ruleRounds || r == ruleLeast
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// roundShares is how many connections each real server gets in one
// round: one each for rr, weight/gcd(weights) for wrr (ip_vs_wrr.c steps
// its current weight down by the gcd).
func roundShares(sched string, weights []int) []int {
	out := make([]int, len(weights))
	g := 0
	for _, w := range weights {
		g = gcd(g, w)
	}
	for i, w := range weights {
		out[i] = 1
		if sched == "wrr" && g > 0 {
			out[i] = w / g
		}
	}
	return out
}

// roundsTolerance is how far a real server's count may be from rounds ×
// share: rr and wrr are deterministic, and any run of whole rounds of
// new connections gives each server exactly its share; the one allowed
// is a connection that reuses a port IPVS still holds a connection for,
// which conn_reuse_mode 0 sends to that connection's server without
// scheduling (Documentation/networking/ipvs-sysctl.rst).
const roundsTolerance = 1

// judgeCounts compares counts with what was expected, each within tol;
// it returns the differences beyond tol, by name.
func judgeCounts(names []string, want, got []int, tol int) []string {
	var bad []string
	for i := range want {
		if d := got[i] - want[i]; d > tol || -d > tol {
			bad = append(bad, fmt.Sprintf("%s %d (expected %d±%d)", names[i], got[i], want[i], tol))
		}
	}
	return bad
}

// leastPick is the real server a least-connection scheduler gives the
// next connection, from each one's weight and active connections (the
// kernel adds inactive connections / 256 for lc and wlc, which only
// breaks ties between equal loads); the first of equals wins, as in the
// kernel's loops.
func leastPick(sched string, weights, active []int) int {
	best := -1
	for i, w := range weights {
		if w <= 0 {
			continue
		}
		if sched == "nq" && active[i] == 0 {
			return i
		}
		if best < 0 || less(sched, active[i], w, active[best], weights[best]) {
			best = i
		}
	}
	return best
}

// less says whether load a/wa is below b/wb under the scheduler's
// overhead: lc compares active counts, wlc active/weight, sed and nq
// (active+1)/weight (ip_vs_lc.c, ip_vs_wlc.c, ip_vs_sed.c, ip_vs_nq.c).
func less(sched string, a, wa, b, wb int) bool {
	switch sched {
	case "lc":
		return a < b
	case "sed", "nq":
		return (a+1)*wb < (b+1)*wa
	}
	return a*wb < b*wa
}

// leastShares is where k connections opened one after another, all held
// open, land from active counts base: the scheduler's picks in turn.
func leastShares(sched string, weights, base []int, k int) []int {
	out := slices.Clone(base)
	for range k {
		i := leastPick(sched, weights, out)
		if i < 0 {
			break
		}
		out[i]++
	}
	return out
}

// leastTolerance is how far a server's held connections may be from
// leastShares: when two servers tie, the kernel's choice rests on
// inactive connections and list order, which the lab does not predict;
// a tie decided the other way moves one connection (TestLeastTolerance
// tries every way of deciding them).
const leastTolerance = 1

// heldConnections is how many connections a least-connection check
// holds: two of the scheduler's rounds of weights, at least two per
// server, at most maxHeld.
func heldConnections(weights []int) int {
	shares := roundShares("wrr", weights)
	sum := 0
	for _, s := range shares {
		sum += s
	}
	return min(maxHeld, max(2*sum, 2*len(weights), 8))
}

// maxHeld bounds the connections a check holds open at once.
const maxHeld = 48

// stickyObs are the real servers each client group reached: the group is
// the client's source address under the service's persistence netmask.
type stickyObs map[netip.Prefix]map[string]int

// add records one answer from src.
func (o stickyObs) add(group netip.Prefix, server string) {
	if o[group] == nil {
		o[group] = map[string]int{}
	}
	o[group][server]++
}

// servers are every server any group reached.
func (o stickyObs) servers() []string {
	var out []string
	for _, m := range o {
		for s := range m {
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	slices.Sort(out)
	return out
}

// spreadChance is the most a check accepts for the chance that every
// client group hashes onto one server by luck: below it, a service whose
// groups all land on one server is failing to spread them.
const spreadChance = 1e-3

// allOnOne is the chance that g client groups all land on one server
// when each lands on server i with probability weights[i]/sum (sh and mh
// fill their buckets in proportion to weight; persistence schedules each
// new group as the scheduler would, which spreads at least as evenly).
func allOnOne(weights []int, g int) float64 {
	sum := 0
	for _, w := range weights {
		sum += w
	}
	p := 0.0
	for _, w := range weights {
		if w > 0 {
			p += math.Pow(float64(w)/float64(sum), float64(g))
		}
	}
	return p
}

// judgeSticky judges stickiness: each group keeps one server, and the
// groups spread over more than one when a spread is all but certain.
// It returns the failures, and a note on the spread.
func judgeSticky(o stickyObs, weights []int) (bad []string, note string) {
	groups := make([]netip.Prefix, 0, len(o))
	for g := range o {
		groups = append(groups, g)
	}
	slices.SortFunc(groups, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	for _, g := range groups {
		if len(o[g]) > 1 {
			bad = append(bad, fmt.Sprintf("%s moved between %s", groupName(g), tally(o[g])))
		}
	}
	seen := o.servers()
	chance := allOnOne(weights, len(groups))
	switch {
	case len(weights) < 2:
		note = "one live real server: nothing to spread"
	case len(groups) < 2:
		note = "the client's sources make one persistence group: nothing to spread"
	case len(seen) > 1:
		note = fmt.Sprintf("%d client groups over %d servers", len(groups), len(seen))
	case chance < spreadChance:
		bad = append(bad, fmt.Sprintf("all %d client groups went to %s (chance %.1g with these weights)", len(groups), seen[0], chance))
	default:
		note = fmt.Sprintf("all %d client groups went to %s, which these weights make likely (chance %.2g)", len(groups), seen[0], chance)
	}
	return bad, note
}

// judgeOne judges a rule that sends everything to one server: every
// answer came from a server of want (any one when want is empty).
func judgeOne(o stickyObs, want []string) []string {
	seen := o.servers()
	switch {
	case len(seen) > 1:
		return []string{"answers came from " + strings.Join(seen, ", ")}
	case len(seen) == 1 && len(want) > 0 && !slices.Contains(want, seen[0]):
		return []string{fmt.Sprintf("answers came from %s, not the highest-weight %s", seen[0], strings.Join(want, " or "))}
	}
	return nil
}

func groupName(g netip.Prefix) string {
	if g.Bits() == g.Addr().BitLen() {
		return g.Addr().String()
	}
	return g.String()
}

// tally lists counts by name: "198.51.100.11 3, 198.51.100.12 1".
func tally[N int | int64](m map[string]N) string {
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// sampleServices picks at most n services to measure: the first of each
// protocol and persistence, then of each scheduler with them, then
// evenly spaced others, in the table's order.
func sampleServices(services []Service, n int) []Service {
	if len(services) <= n {
		return services
	}
	pick := map[int]bool{}
	for _, kind := range []func(Service) string{
		func(s Service) string { return fmt.Sprintf("%s/%v", s.Protocol, s.Persistence > 0) },
		func(s Service) string { return fmt.Sprintf("%s/%s/%v", s.Scheduler, s.Protocol, s.Persistence > 0) },
	} {
		seen := map[string]bool{}
		for i, s := range services {
			if k := kind(s); !seen[k] && len(pick) < n {
				seen[k] = true
				pick[i] = true
			}
		}
	}
	for i := 0; len(pick) < n && i < n; i++ {
		pick[i*len(services)/n] = true
	}
	for i := 0; len(pick) < n; i++ {
		pick[i] = true
	}
	var out []Service
	for i, s := range services {
		if pick[i] {
			out = append(out, s)
		}
	}
	return out
}
