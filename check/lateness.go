//go:build linux

package check

import (
	"context"
	"slices"
	"sync"
	"time"
)

// A bound the file implies is a promise of keepalived's timers; on a busy
// host, and most under software emulation, timers fire late. The check
// measures how late while it runs and adds that to every bound; a bound
// shorter than the lateness itself cannot be judged here.

// latenessTick is how often the lateness probe sleeps: as often as
// keepalived's own timers fire in a lab (a 1 s advert, sub-second v3).
const latenessTick = 20 * time.Millisecond

// Lateness records how late timers fire during a run.
type Lateness struct {
	mu   sync.Mutex
	late []time.Duration
}

// Measure samples timer lateness until ctx ends: how late a timer fires,
// plus how long act then takes (a netlink request, as keepalived makes
// when a timer moves a VIP), so that a bound allows for both.
func (l *Lateness) Measure(ctx context.Context, act func()) {
	t := time.NewTimer(latenessTick)
	defer t.Stop()
	due := time.Now().Add(latenessTick)
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if act != nil {
				act()
			}
			late := max(0, time.Since(due))
			_ = now
			l.mu.Lock()
			l.late = append(l.late, late)
			if len(l.late) > 1<<20 {
				l.late = l.late[len(l.late)/2:]
			}
			l.mu.Unlock()
			due = time.Now().Add(latenessTick)
			t.Reset(latenessTick)
		}
	}
}

// Worst is the p99.9 lateness seen so far: what a timer of the run was
// late by, all but the rarest. Never less than a millisecond.
func (l *Lateness) Worst() time.Duration {
	l.mu.Lock()
	s := slices.Clone(l.late)
	l.mu.Unlock()
	if len(s) == 0 {
		return time.Millisecond
	}
	slices.Sort(s)
	return max(time.Millisecond, s[min(len(s)-1, len(s)*999/1000)])
}
