//go:build linux

package check

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lvslab/lvslab/bench"
	"github.com/lvslab/lvslab/harness"
	"github.com/lvslab/lvslab/harness/ipvsadm"
)

// Reach at scale: a table larger than reachEach services (a Kubernetes
// cluster's, thousands of services) is reached whole. Every service gets
// one round of new connections, one at a time (a request per real
// server, weight/gcd each in wrr), services side by side; one result
// sums them up and each service that failed gets its own.

const (
	// reachEach is the most services reach gives a result each, with
	// loadgen's load through every one.
	reachEach = 64
	// reachParallel is how many services are probed at once: enough to
	// keep the VM's CPUs busy, few enough that each service's requests
	// stay one at a time and the director's table stays small.
	reachParallel = 32
	// reachListed is how many failed services get a result of their own.
	reachListed = 20
)

// reachJob is one service's round.
type reachJob struct {
	s    Service
	t    target
	st   harness.ServiceState
	live []harness.RealState
	// failed, seen: what the round found.
	failed []string
	seen   map[string]int
}

// rulesSnapshot is the rules director's table, read once: nothing but a
// drain (which restores what it changed) changes it in a rules lab, and a
// Kubernetes-sized table takes tens of seconds to read in the VM.
func (e *env) rulesSnapshot() ([]harness.ServiceState, error) {
	if e.snapshot != nil {
		return e.snapshot, nil
	}
	table, err := e.tableOf("director")
	if err == nil {
		e.snapshot = table
	}
	return table, err
}

func (e *env) reachEvery() []Result {
	t0 := time.Now()
	sum := Result{ID: "reach/every service", Group: GroupReach, Title: "every service answers the client, through each real server of a round",
		Where: []Pos{{File: e.b.Rules.File}}}
	e.step("reading the director's table of %d services", len(e.d.Services))
	table, err := e.rulesSnapshot()
	if err != nil {
		sum.Status, sum.Reason = Inconclusive, err.Error()
		return []Result{sum}
	}
	index := make(map[ipvsadm.ServiceKey]harness.ServiceState, len(table))
	for _, st := range table {
		index[stateKey(st.Service)] = st
	}
	var jobs []*reachJob
	notChecked := 0
	for _, s := range e.d.Services {
		targets := e.targetsOf(s)
		if !s.Checked || len(targets) == 0 {
			notChecked++
			continue
		}
		j := &reachJob{s: s, t: targets[0], seen: map[string]int{}}
		j.st = index[stateKey(ipvsService(s, j.t))]
		j.live = live(j.st)
		jobs = append(jobs, j)
	}
	e.step("reach: one round through each of %d services, %d at a time", len(jobs), reachParallel)
	e.runReachJobs(jobs)
	return e.reachSummary(sum, jobs, notChecked, time.Since(t0))
}

func stateKey(s harness.Service) ipvsadm.ServiceKey {
	if s.FWMark != 0 {
		a := netip.IPv4Unspecified()
		if s.Addr.Is6() {
			a = netip.IPv6Unspecified()
		}
		return ipvsadm.ServiceKey{Addr: a, FWMark: s.FWMark}
	}
	return ipvsadm.ServiceKey{Protocol: s.Protocol, Addr: s.Addr, Port: s.Port}
}

// runReachJobs sends each service its round, reachParallel services at
// a time, each service's requests one after another from the client's
// addresses in turn.
func (e *env) runReachJobs(jobs []*reachJob) {
	var next, done atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	srcs4, srcs6 := e.sources(false), e.sources(true)
	for range min(reachParallel, len(jobs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < len(jobs) && e.ctx.Err() == nil; i = int(next.Add(1) - 1) {
				j := jobs[i]
				srcs := srcs4
				if j.t.addr.Addr().Is6() {
					srcs = srcs6
				}
				for k := range roundLength(j) {
					rep := e.ask(e.ctx, j.t, srcs[(i+k)%len(srcs)])
					if rep.err != nil {
						j.failed = append(j.failed, rep.err.Error())
					} else {
						j.seen[rep.server]++
					}
				}
				if n := done.Add(1); n%500 == 0 {
					e.stepOf("reach, services", int(n), len(jobs), start)
				}
			}
		}()
	}
	wg.Wait()
}

// roundLength is a service's requests: one round of its scheduler where
// it has rounds (rr, wrr), else one per live real server; at least one.
func roundLength(j *reachJob) int {
	if j.st.Scheduler == "wrr" {
		n := 0
		for _, s := range roundShares("wrr", weightsOf(j.live)) {
			n += s
		}
		return max(n, 1)
	}
	return max(len(j.live), 1)
}

// everyInRound says whether one round must reach every live server: rr
// and wrr without persistence (a client's template keeps it otherwise).
func everyInRound(j *reachJob) bool {
	return !j.st.Persistent && (j.st.Scheduler == "rr" || j.st.Scheduler == "wrr")
}

func (e *env) reachSummary(sum Result, jobs []*reachJob, notChecked int, took time.Duration) []Result {
	var failedJobs []*reachJob
	var failures []string
	answered, requests, rounds, covered := 0, 0, 0, 0
	for _, j := range jobs {
		n := roundLength(j)
		requests += n
		var why []string
		switch {
		case len(j.live) == 0:
			why = append(why, "no live real server in the director's table")
		case len(j.failed) > 0:
			why = append(why, fmt.Sprintf("%d of %d requests failed: %s", len(j.failed), n, j.failed[0]))
		}
		var missing []string
		for _, name := range namesOf(j.live) {
			if j.seen[name] == 0 {
				missing = append(missing, name)
			}
		}
		if everyInRound(j) {
			rounds++
			if len(missing) == 0 {
				covered++
			} else if len(why) == 0 {
				why = append(why, fmt.Sprintf("a round of %s never reached %s", j.st.Scheduler, strings.Join(missing, ", ")))
			}
		}
		if len(j.failed) < n && len(j.live) > 0 {
			answered++
		}
		if len(why) > 0 {
			failedJobs = append(failedJobs, j)
			failures = append(failures, j.s.Key+": "+strings.Join(why, "; "))
		}
	}
	sum.Elapsed = bench.Seconds(took)
	sum.Bound = fmt.Sprintf("every one of %d services answers every request of a round (%d requests, one at a time per service); a round of rr or wrr without persistence reaches each live real server",
		len(jobs), requests)
	sum.Measured = fmt.Sprintf("%d of %d services answered; %d of %d rr/wrr rounds reached every real server; in %s",
		answered, len(jobs), covered, rounds, took.Round(time.Second))
	if notChecked > 0 {
		sum.Measured += fmt.Sprintf("; %d services not checked (reach/… not checked lists why)", notChecked)
	}
	var out []Result
	if len(failedJobs) > 0 {
		sum.Status, sum.Reason = Fail, fmt.Sprintf("%d service(s) failed: %s", len(failedJobs), strings.Join(failures[:min(len(failures), 5)], "; "))
	} else {
		sum.Status = Pass
	}
	var subjects []string
	for _, j := range jobs {
		for _, r := range j.s.Reals {
			subjects = append(subjects, subjApp(r.Addr, r.Port))
		}
	}
	sum.RestsOn = e.d.RestsOn(append(subjects, e.vipSubjects(netip.Addr{})...)...)
	out = append(out, sum)
	for i, j := range failedJobs[:min(len(failedJobs), reachListed)] {
		out = append(out, Result{ID: "reach/" + j.t.String(), Group: GroupReach, Title: j.s.Key + " answers the client",
			Where: []Pos{j.s.Pos}, Status: Fail, Reason: failures[i], Measured: "answers: " + tally(j.seen)})
	}
	out = append(out, e.reachNotChecked()...)
	return out
}

// reachNotChecked are the services no check can send to, each with why.
func (e *env) reachNotChecked() []Result {
	var out []Result
	for _, s := range e.d.Services {
		if !s.Checked {
			out = append(out, Result{ID: "reach/" + s.Key, Group: GroupReach, Title: s.Key + " answers through every real server",
				Where: []Pos{s.Pos}, Status: NotChecked, Reason: s.Why})
		}
	}
	return out
}
