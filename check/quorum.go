//go:build linux

package check

import (
	"fmt"
	"slices"

	"github.com/lvslab/lvslab/harness/keepalived/conf"
)

// A virtual service's quorum as keepalived 2.2.7 keeps it (ipwrapper.c
// update_quorum_state): the live weight is the sum of the weights of the
// real servers up; a service that has quorum loses it when that sum is 0
// or below quorum − hysteresis, and one that lost it gains it back at
// quorum + hysteresis or more. Losing it swaps the sorry server in for
// every real server; gaining it swaps them back.

// quorumRule is a service's quorum and hysteresis once keepalived has
// capped them (check_data.c: quorum at most the total weight, hysteresis
// below quorum).
type quorumRule struct {
	quorum, hysteresis int
	words              string
}

func quorumOf(vs conf.VirtualServer, weights []int) quorumRule {
	total := 0
	for _, w := range weights {
		total += w
	}
	q := quorumRule{quorum: 1, words: "quorum 1 (default)"}
	if vs.Quorum.Set {
		q.quorum, q.words = vs.Quorum.Value, fmt.Sprintf("quorum %d", vs.Quorum.Value)
	}
	if q.quorum > total {
		q.quorum = total
		q.words += fmt.Sprintf(" (keepalived lowers it to the total weight %d)", total)
	}
	h, hw := 0, "hysteresis 0 (default)"
	if vs.Hysteresis.Set {
		h, hw = vs.Hysteresis.Value, fmt.Sprintf("hysteresis %d", vs.Hysteresis.Value)
	}
	if h >= q.quorum {
		h = max(0, q.quorum-1)
		hw += fmt.Sprintf(" (keepalived lowers it to quorum − 1 = %d)", h)
	}
	q.hysteresis, q.words = h, q.words+", "+hw
	return q
}

// lost says whether a service with quorum loses it at that live weight.
func (q quorumRule) lost(live int) bool { return live == 0 || live < q.quorum-q.hysteresis }

// gained says whether a service without quorum gains it back.
func (q quorumRule) gained(live int) bool { return live >= q.quorum+q.hysteresis }

// sorryFaults picks the real servers to fail so that a service loses
// quorum: of those up that the lab can fail, the heaviest first, so the
// fewest faults do it. ok is false when failing all of them still keeps
// quorum (a server without a checker the lab can fail never goes down).
func sorryFaults(weights []int, up, canFail []bool, q quorumRule) (fail []int, ok bool) {
	live := 0
	var order []int
	for i, w := range weights {
		if up[i] {
			live += w
			if canFail[i] {
				order = append(order, i)
			}
		}
	}
	slices.SortStableFunc(order, func(a, b int) int { return weights[b] - weights[a] })
	for _, i := range order {
		if q.lost(live) {
			break
		}
		fail = append(fail, i)
		live -= weights[i]
	}
	return fail, q.lost(live)
}

// laneLoad is what one lane of faults can take out of each service at
// once: the weight of its real servers there, by service key.
type laneLoad map[string]int

// batchLanes groups lanes that may run at the same time: together they
// never take so much weight out of a service that it would lose quorum,
// which would swap its sorry server in and every real server out. A lane
// that loses quorum on its own runs alone. live and rules are by service
// key.
func batchLanes(lanes []laneLoad, live map[string]int, rules map[string]quorumRule) [][]int {
	var batches [][]int
	var taken []laneLoad
	for i, l := range lanes {
		placed := false
		for b := range batches {
			if fits(taken[b], l, live, rules) {
				batches[b] = append(batches[b], i)
				for k, w := range l {
					taken[b][k] += w
				}
				placed = true
				break
			}
		}
		if !placed {
			batches = append(batches, []int{i})
			t := laneLoad{}
			for k, w := range l {
				t[k] = w
			}
			taken = append(taken, t)
		}
	}
	return batches
}

func fits(taken, l laneLoad, live map[string]int, rules map[string]quorumRule) bool {
	for k, w := range l {
		if rules[k].lost(live[k] - taken[k] - w) {
			return false
		}
	}
	return true
}
