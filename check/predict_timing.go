//go:build linux

package check

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lvslab/lvslab/harness/keepalived/conf"
)

// Windows of the failover and tracking checks: a sync group's, a
// tracked script's runs, and how many requests a connection needs before
// the sync daemon sends it.

// unionWindow is the window of a sync group's move: each member moves
// when its own timer fires and the group when all want to, so the group
// moves within the widest of its members' windows.
func unionWindow(ws []Window) Window {
	if len(ws) == 0 {
		return Window{}
	}
	u := ws[0]
	var formulas []string
	for _, w := range ws {
		u.Min, u.Max = min(u.Min, w.Min), max(u.Max, w.Max)
		if !slices.Contains(formulas, w.Formula) {
			formulas = append(formulas, w.Formula)
		}
	}
	u.Formula = strings.Join(formulas, "; ")
	if len(ws) > 1 && len(formulas) > 1 {
		u.Formula = "the widest of the sync group's members: " + u.Formula
	}
	return u
}

// widenLate widens a window by lateness both ways: a master whose timer
// fired late sent its last advert earlier than the window's start
// assumes, and the taker's side may be late (takerLate).
func widenLate(w Window, late time.Duration) Window {
	w = takerLate(w, late)
	w.Min = max(0, w.Min-late)
	return w
}

// takerLate widens the end of a window that closes when a director
// becomes master, as lvslab sees it: two timers in a row, in two
// processes, keepalived's own and the watcher that reads the address it
// adds. An election and a takeover end the same way.
func takerLate(w Window, late time.Duration) Window {
	w.Hops = max(w.Hops, 2)
	return w.Widen(late)
}

// scriptTiming is how often keepalived runs a vrrp_script and how many
// results in a row change its state (vrrp_parser.c defaults: interval
// 1 s, rise and fall 1).
type scriptTiming struct {
	interval   time.Duration
	rise, fall int
	words      []string
}

func scriptTimingOf(s conf.Script) scriptTiming {
	var t scriptTiming
	var w string
	t.interval, w = setting("interval", s.Interval, time.Second)
	t.words = append(t.words, w)
	t.fall, w = setting("fall", s.Fall, 1)
	t.words = append(t.words, w)
	t.rise, w = setting("rise", s.Rise, 1)
	t.words = append(t.words, w)
	t.fall, t.rise = max(1, t.fall), max(1, t.rise)
	return t
}

// failWindow bounds when a good script that starts failing at t0 is
// failed: keepalived runs it every interval (vrrp_scheduler.c
// vrrp_script_thread), the first run after t0 within one, and fall runs
// in a row must fail.
func (t scriptTiming) failWindow() Window {
	return t.runs(t.fall, "fall")
}

// recoverWindow bounds when a failed script that succeeds again from t0
// is good: rise runs in a row.
func (t scriptTiming) recoverWindow() Window {
	return t.runs(t.rise, "rise")
}

func (t scriptTiming) runs(n int, name string) Window {
	return Window{Min: time.Duration(n-1) * t.interval, Max: time.Duration(n) * t.interval,
		Formula: fmt.Sprintf("%s runs interval apart: (%s − 1) × interval to %s × interval = %s to %s; %s",
			name, name, name, roundMs(time.Duration(n-1)*t.interval), roundMs(time.Duration(n)*t.interval), strings.Join(t.words, ", "))}
}

// syncRequests is how many requests a kept connection makes before the
// IPVS master sync daemon sends it: the kernel syncs a connection when
// its packets from the client reach sync_threshold (ip_vs_sync.c
// ip_vs_sync_conn_needed; default "3 50"), and the handshake is two of
// them.
func syncRequests(threshold int) int { return max(1, threshold-2) }
