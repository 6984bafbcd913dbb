//go:build linux

package check

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRoundShares(t *testing.T) {
	for _, c := range []struct {
		sched   string
		weights []int
		want    []int
	}{
		{"rr", []int{3, 3, 1}, []int{1, 1, 1}},
		{"wrr", []int{3, 3, 1}, []int{3, 3, 1}},
		{"wrr", []int{4, 2}, []int{2, 1}},
		{"wrr", []int{5, 5}, []int{1, 1}},
	} {
		if got := roundShares(c.sched, c.weights); !slices.Equal(got, c.want) {
			t.Errorf("roundShares(%s, %v) = %v, want %v", c.sched, c.weights, got, c.want)
		}
	}
}

func TestJudgeCounts(t *testing.T) {
	names := []string{"a", "b"}
	if bad := judgeCounts(names, []int{10, 10}, []int{11, 9}, roundsTolerance); len(bad) > 0 {
		t.Errorf("one off is within the tolerance, got %v", bad)
	}
	// rr's 15/15 where wrr 2:1 gives 20/10 is a failure.
	bad := judgeCounts(names, []int{20, 10}, []int{15, 15}, roundsTolerance)
	if len(bad) != 2 || !strings.Contains(bad[0], "a 15 (expected 20±1)") {
		t.Errorf("judgeCounts = %v, want both servers named", bad)
	}
}

func TestLeastShares(t *testing.T) {
	for _, c := range []struct {
		sched         string
		weights, base []int
		k             int
		want          []int
	}{
		{"lc", []int{1, 1}, []int{0, 0}, 8, []int{4, 4}},
		{"lc", []int{5, 1}, []int{0, 0}, 8, []int{4, 4}}, // lc ignores weights
		{"lc", []int{1, 1}, []int{3, 0}, 5, []int{4, 4}},
		{"wlc", []int{3, 1}, []int{0, 0}, 8, []int{6, 2}},
		{"wlc", []int{3, 3, 1}, []int{0, 0, 0}, 14, []int{6, 6, 2}},
		{"wlc", []int{1, 0}, []int{0, 0}, 4, []int{4, 0}}, // weight 0 takes nothing
		{"sed", []int{3, 1}, []int{0, 0}, 4, []int{3, 1}},
		{"nq", []int{3, 1}, []int{0, 0}, 2, []int{1, 1}}, // an idle server first
	} {
		if got := leastShares(c.sched, c.weights, c.base, c.k); !slices.Equal(got, c.want) {
			t.Errorf("leastShares(%s, %v, %v, %d) = %v, want %v", c.sched, c.weights, c.base, c.k, got, c.want)
		}
	}
}

// TestLeastTolerance decides every tie every possible way and checks
// that each outcome is within leastTolerance of leastShares: the
// tolerance the least-connection check allows.
func TestLeastTolerance(t *testing.T) {
	weightSets := [][]int{{1, 1}, {1, 1, 1}, {3, 1}, {3, 3, 1}, {2, 3}, {4, 2, 1}, {5, 1, 1, 1}, {2, 2, 2, 2}}
	for _, sched := range []string{"lc", "wlc", "sed", "nq"} {
		for _, w := range weightSets {
			k := heldConnections(w)
			base := make([]int, len(w))
			want := leastShares(sched, w, base, k)
			for _, got := range everyOutcome(sched, w, base, k) {
				if bad := judgeCounts(make([]string, len(w)), want, got, leastTolerance); len(bad) > 0 {
					t.Errorf("%s %v, %d connections: ties decided otherwise give %v, beyond ±%d of %v", sched, w, k, got, leastTolerance, want)
				}
			}
		}
	}
}

// everyOutcome lists the counts every way of deciding ties leads to.
func everyOutcome(sched string, weights, base []int, k int) [][]int {
	states := map[string][]int{fmt.Sprint(base): base}
	for range k {
		next := map[string][]int{}
		for _, s := range states {
			for _, i := range tied(sched, weights, s) {
				n := slices.Clone(s)
				n[i]++
				next[fmt.Sprint(n)] = n
			}
		}
		states = next
	}
	var out [][]int
	for _, s := range states {
		out = append(out, s)
	}
	return out
}

// tied are the servers the scheduler may pick: none strictly better.
func tied(sched string, weights, active []int) []int {
	var out []int
	if sched == "nq" {
		for i, w := range weights {
			if w > 0 && active[i] == 0 {
				out = append(out, i)
			}
		}
		if len(out) > 0 {
			return out
		}
	}
	for i, w := range weights {
		if w <= 0 {
			continue
		}
		beaten := false
		for j, wj := range weights {
			if wj > 0 && less(sched, active[j], wj, active[i], w) {
				beaten = true
			}
		}
		if !beaten {
			out = append(out, i)
		}
	}
	return out
}

func TestHeldConnections(t *testing.T) {
	for _, c := range []struct {
		weights []int
		want    int
	}{{[]int{1, 1}, 8}, {[]int{3, 3, 1}, 14}, {[]int{100, 1}, maxHeld}} {
		if got := heldConnections(c.weights); got != c.want {
			t.Errorf("heldConnections(%v) = %d, want %d", c.weights, got, c.want)
		}
	}
}

func group(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func TestJudgeSticky(t *testing.T) {
	spread := stickyObs{}
	for i := range 16 {
		spread.add(group(fmt.Sprintf("203.0.113.%d/32", i+1)), fmt.Sprintf("rs%d", i%2))
	}
	if bad, note := judgeSticky(spread, []int{1, 1}); len(bad) > 0 || !strings.Contains(note, "16 client groups over 2 servers") {
		t.Errorf("sticky and spread: bad %v, note %q", bad, note)
	}

	moved := stickyObs{}
	moved.add(group("203.0.113.1/32"), "rs1")
	moved.add(group("203.0.113.1/32"), "rs2")
	moved.add(group("203.0.113.2/32"), "rs1")
	if bad, _ := judgeSticky(moved, []int{1, 1}); len(bad) != 1 || !strings.Contains(bad[0], "203.0.113.1 moved between rs1 1, rs2 1") {
		t.Errorf("a client that moved: bad %v", bad)
	}

	oneServer := stickyObs{}
	for i := range 16 {
		oneServer.add(group(fmt.Sprintf("203.0.113.%d/32", i+1)), "rs1")
	}
	if bad, _ := judgeSticky(oneServer, []int{1, 1}); len(bad) != 1 || !strings.Contains(bad[0], "all 16 client groups went to rs1") {
		t.Errorf("16 clients on one of two equal servers: bad %v", bad)
	}
	if bad, note := judgeSticky(oneServer, []int{100, 1}); len(bad) > 0 || !strings.Contains(note, "likely") {
		t.Errorf("16 clients on the server of weight 100 of 101: bad %v, note %q", bad, note)
	}

	oneGroup := stickyObs{}
	oneGroup.add(group("203.0.113.0/24"), "rs1")
	if bad, note := judgeSticky(oneGroup, []int{1, 1}); len(bad) > 0 || !strings.Contains(note, "one persistence group") {
		t.Errorf("one /24 group: bad %v, note %q", bad, note)
	}
}

func TestJudgeOne(t *testing.T) {
	o := stickyObs{}
	o.add(group("203.0.113.1/32"), "rs1")
	o.add(group("203.0.113.2/32"), "rs1")
	if bad := judgeOne(o, nil); len(bad) > 0 {
		t.Errorf("one server: %v", bad)
	}
	if bad := judgeOne(o, []string{"rs2"}); len(bad) != 1 {
		t.Errorf("the wrong server passed: %v", bad)
	}
	o.add(group("203.0.113.3/32"), "rs2")
	if bad := judgeOne(o, nil); len(bad) != 1 {
		t.Errorf("two servers passed: %v", bad)
	}
}

func TestRuleOf(t *testing.T) {
	for _, c := range []struct {
		sched      string
		persistent bool
		port       bool
		want       balanceRule
	}{
		{"rr", false, false, ruleRounds}, {"rr", true, false, ruleBySource}, {"wlc", false, false, ruleLeast},
		{"sh", false, false, ruleBySource}, {"sh", false, true, ruleNone}, {"sh", true, true, ruleBySource},
		{"dh", false, false, ruleByDest}, {"lblcr", false, false, ruleNone}, {"ovf", false, false, ruleHighest}, {"twos", false, false, ruleNone},
		{"nosuch", false, false, ruleNone},
	} {
		if got, why := ruleOf(c.sched, c.persistent, c.port); got != c.want || (got == ruleNone) != (why != "") {
			t.Errorf("ruleOf(%s, persistent %v, port %v) = %v %q, want %v", c.sched, c.persistent, c.port, got, why, c.want)
		}
	}
}

func TestSampleServices(t *testing.T) {
	var all []Service
	for i := range 5000 {
		s := Service{Key: fmt.Sprint(i), Scheduler: "rr", Protocol: "tcp"}
		if i%10 == 7 {
			s.Persistence = time.Hour
		}
		if i == 4321 {
			s.Protocol = "udp"
		}
		all = append(all, s)
	}
	got := sampleServices(all, 50)
	if len(got) != 50 {
		t.Fatalf("%d services sampled, want 50", len(got))
	}
	var keys []string
	for _, s := range got {
		keys = append(keys, s.Key)
	}
	for _, want := range []string{"0", "7", "4321", "100", "4700"} {
		if !slices.Contains(keys, want) {
			t.Errorf("sample %v lacks service %s", keys, want)
		}
	}
	// A small sample takes every protocol and persistence first.
	mixed := []Service{{Key: "rr", Scheduler: "rr", Protocol: "tcp"}, {Key: "wrr", Scheduler: "wrr", Protocol: "tcp"},
		{Key: "lc", Scheduler: "lc", Protocol: "tcp"}, {Key: "rr-p", Scheduler: "rr", Protocol: "tcp", Persistence: time.Minute},
		{Key: "udp", Scheduler: "rr", Protocol: "udp"}}
	keys = nil
	for _, s := range sampleServices(mixed, 3) {
		keys = append(keys, s.Key)
	}
	if !slices.Equal(keys, []string{"rr", "rr-p", "udp"}) {
		t.Errorf("sample of 3 = %v, want rr, rr-p, udp", keys)
	}
	if got := sampleServices(all[:3], 50); len(got) != 3 {
		t.Errorf("a small table is not sampled: got %d of 3", len(got))
	}
}
