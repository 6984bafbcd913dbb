//go:build linux

package check

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"github.com/lvslab/lvslab/harness"
)

// The instants a real server leaves a director's table and comes back
// are read from the table itself: keepalived's notify events name a real
// server without its service, and say what keepalived meant to do, not
// what the kernel holds.

// tablePoll is how often a director's table is read while faults run: a
// tenth of the shortest delay_before_retry keepalived takes (1 s), so the
// instant seen is late by at most this and one read.
const tablePoll = 50 * time.Millisecond

// snapshot is one read of a table: it began at start and ended at at, so
// the state it shows held at some instant between.
type snapshot struct {
	start, at time.Time
	table     []harness.ServiceState
	err       error
}

// tableWatch reads one director's table every tablePoll.
type tableWatch struct {
	mu   sync.Mutex
	last snapshot
	next chan struct{} // closed and replaced at every read
}

// watchTables reads every director's table until ctx ends.
func (e *env) watchTables(ctx context.Context) map[string]*tableWatch {
	out := map[string]*tableWatch{}
	for node, d := range e.ipvs {
		w := &tableWatch{next: make(chan struct{})}
		out[node] = w
		go w.run(ctx, d)
	}
	return out
}

func (w *tableWatch) run(ctx context.Context, d *harness.Director) {
	tick := time.NewTicker(tablePoll)
	defer tick.Stop()
	for {
		start := time.Now()
		table, err := d.Services()
		w.mu.Lock()
		w.last = snapshot{start: start, at: time.Now(), table: table, err: err}
		close(w.next)
		w.next = make(chan struct{})
		w.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// wait returns the first read that began at or after since and whose
// table match accepts; on ctx's end, the last read and ctx's error.
func (w *tableWatch) wait(ctx context.Context, since time.Time, match func([]harness.ServiceState) bool) (snapshot, error) {
	for {
		w.mu.Lock()
		s, next := w.last, w.next
		w.mu.Unlock()
		if s.err == nil && !s.start.Before(since) && match(s.table) {
			return s, nil
		}
		select {
		case <-next:
		case <-ctx.Done():
			if s.err != nil {
				return s, s.err
			}
			return s, ctx.Err()
		}
	}
}

// now is the latest read.
func (w *tableWatch) now() snapshot {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last
}

// waitUntil is wait for at most d after since.
func (w *tableWatch) waitUntil(ctx context.Context, since time.Time, d time.Duration, match func([]harness.ServiceState) bool) (snapshot, error) {
	ctx, cancel := context.WithDeadline(ctx, since.Add(d))
	defer cancel()
	return w.wait(ctx, since, match)
}

// fresh returns the first read that began at or after now.
func (w *tableWatch) fresh(ctx context.Context) (snapshot, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for {
		s, err := w.wait(ctx, time.Now(), func([]harness.ServiceState) bool { return true })
		if err != nil || s.err == nil {
			return s, err
		}
	}
}

// realState is how a table holds a real server of a service.
type realState struct {
	In     bool // the service holds it
	Weight int
}

// live says whether the server gets new connections.
func (r realState) live() bool { return r.In && r.Weight > 0 }

func (r realState) String() string {
	switch {
	case !r.In:
		return "absent"
	case r.Weight == 0:
		return "weight 0"
	}
	return "in"
}

// serviceIn finds a service in a table: its mark, else its first
// address.
func serviceIn(table []harness.ServiceState, s Service) (harness.ServiceState, bool) {
	if s.FWMark != 0 {
		for _, st := range table {
			if int(st.FWMark) == s.FWMark {
				return st, true
			}
		}
		return harness.ServiceState{}, false
	}
	if len(s.Addrs) == 0 {
		return harness.ServiceState{}, false
	}
	return findService(table, s, s.Addrs[0])
}

// stateOf is how a table holds the real server a:port of service s.
func stateOf(table []harness.ServiceState, s Service, a netip.Addr, port uint16) realState {
	st, ok := serviceIn(table, s)
	if !ok {
		return realState{}
	}
	for _, r := range st.Reals {
		if r.Addr == a && (r.Port == port || s.FWMark != 0) {
			return realState{In: true, Weight: r.Weight}
		}
	}
	return realState{}
}
