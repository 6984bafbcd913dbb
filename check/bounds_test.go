//go:build linux

package check

import (
	"strings"
	"testing"
	"time"

	"github.com/lvslab/lvslab/harness/keepalived/conf"
)

func dur(s int) conf.Setting[time.Duration] {
	return conf.Setting[time.Duration]{Value: time.Duration(s) * time.Second, Set: true}
}

func num(n int) conf.Setting[int] { return conf.Setting[int]{Value: n, Set: true} }

// The windows of keepalived 2.2.7's checkers, from the source and the
// defaults it applies (check_tcp.c, check_http.c, check_misc.c).
func TestCheckerWindows(t *testing.T) {
	s := time.Second
	url := []conf.URL{{Path: conf.Setting[string]{Value: "/healthz", Set: true}}}
	for _, c := range []struct {
		name             string
		vs               conf.VirtualServer
		rs               conf.RealServer
		c                conf.Checker
		refused, dropped [2]time.Duration
		up, upDropped    [2]time.Duration
		settled          time.Duration
	}{
		{name: "TCP_CHECK defaults", c: conf.Checker{Kind: "TCP_CHECK"},
			refused: [2]time.Duration{1 * s, 61 * s}, dropped: [2]time.Duration{11 * s, 71 * s},
			up: [2]time.Duration{0, 60 * s}, upDropped: [2]time.Duration{0, 65 * s}, settled: 66 * s},
		{name: "HTTP_GET defaults", c: conf.Checker{Kind: "HTTP_GET", URLs: url},
			refused: [2]time.Duration{3 * s, 63 * s}, dropped: [2]time.Duration{13 * s, 73 * s},
			up: [2]time.Duration{60 * s, 120 * s}, upDropped: [2]time.Duration{60 * s, 125 * s}, settled: 66 * s},
		{name: "HTTP_GET of the NAT pair: delay_loop from the virtual server", vs: conf.VirtualServer{Timing: conf.Timing{DelayLoop: dur(6)}},
			c:       conf.Checker{Kind: "HTTP_GET", URLs: url, Timing: conf.Timing{ConnectTimeout: dur(3), Retry: num(2), DelayBeforeRetry: dur(2)}},
			refused: [2]time.Duration{4 * s, 10 * s}, dropped: [2]time.Duration{13 * s, 19 * s},
			up: [2]time.Duration{6 * s, 12 * s}, upDropped: [2]time.Duration{6 * s, 15 * s}, settled: 10 * s},
		{name: "two URLs: a pass takes two delay_loops", vs: conf.VirtualServer{Timing: conf.Timing{DelayLoop: dur(4)}},
			c:       conf.Checker{Kind: "SSL_GET", URLs: append(url, url...), Timing: conf.Timing{ConnectTimeout: dur(2), Retry: num(0), DelayBeforeRetry: dur(5)}},
			refused: [2]time.Duration{0, 4 * s}, dropped: [2]time.Duration{2 * s, 6 * s},
			up: [2]time.Duration{8 * s, 13 * s}, upDropped: [2]time.Duration{8 * s, 15 * s}, settled: 11 * s},
		{name: "fast_recovery: back at the first whole pass", vs: conf.VirtualServer{Timing: conf.Timing{DelayLoop: dur(4)}},
			c:       conf.Checker{Kind: "HTTP_GET", URLs: url, FastRecovery: conf.Setting[bool]{Value: true, Set: true}},
			refused: [2]time.Duration{3 * s, 7 * s}, dropped: [2]time.Duration{13 * s, 17 * s},
			up: [2]time.Duration{0, 4 * s}, upDropped: [2]time.Duration{0, 9 * s}, settled: 10 * s},
		{name: "retry and timing inherited from the real server", rs: conf.RealServer{Timing: conf.Timing{DelayLoop: dur(4), Retry: num(2), DelayBeforeRetry: dur(1), ConnectTimeout: dur(2)}},
			c:       conf.Checker{Kind: "TCP_CHECK"},
			refused: [2]time.Duration{2 * s, 6 * s}, dropped: [2]time.Duration{8 * s, 12 * s},
			up: [2]time.Duration{0, 4 * s}, upDropped: [2]time.Duration{0, 6 * s}, settled: 7 * s},
		{name: "MISC_CHECK: retry 0, no connect_timeout", vs: conf.VirtualServer{Timing: conf.Timing{DelayLoop: dur(5)}},
			c:       conf.Checker{Kind: "MISC_CHECK", Timing: conf.Timing{Warmup: dur(0)}},
			refused: [2]time.Duration{0, 5 * s}, dropped: [2]time.Duration{0, 5 * s},
			up: [2]time.Duration{0, 5 * s}, upDropped: [2]time.Duration{0, 5 * s}, settled: 6 * s},
	} {
		t.Run(c.name, func(t *testing.T) {
			tm := timingOfChecker(c.vs, c.rs, c.c)
			for _, w := range []struct {
				what string
				got  Window
				want [2]time.Duration
			}{{"down refused", tm.downWindow(false), c.refused}, {"down dropped", tm.downWindow(true), c.dropped},
				{"up", tm.upWindow(false), c.up}, {"up dropped", tm.upWindow(true), c.upDropped}} {
				if w.got.Min != w.want[0] || w.got.Max != w.want[1] {
					t.Errorf("%s: %s to %s, want %s to %s (%s)", w.what, w.got.Min, w.got.Max, w.want[0], w.want[1], w.got.Formula)
				}
			}
			if got := tm.settled(); got != c.settled {
				t.Errorf("settled after %s, want %s", got, c.settled)
			}
		})
	}
}

// Every formula names the values it used and which were defaults.
func TestCheckerWindowWords(t *testing.T) {
	vs := conf.VirtualServer{Timing: conf.Timing{DelayLoop: dur(6)}}
	c := conf.Checker{Kind: "HTTP_GET", URLs: []conf.URL{{}}, Timing: conf.Timing{ConnectTimeout: dur(3), Retry: num(2), DelayBeforeRetry: dur(2)}}
	tm := timingOfChecker(vs, conf.RealServer{}, c)
	for w, want := range map[string]Window{
		"R×D = 2×2s = 4s to L + R×D = 6s + 4s = 10s; delay_loop 6s, connect_timeout 3s, delay_before_retry 2s, retry 2": tm.downWindow(false),
		"(R+1)×C + R×D = 3×3s + 2×2s = 13s to L + (R+1)×C + R×D = 6s + 13s = 19s":                                       tm.downWindow(true),
		"a success, then a pass of 1 URL(s) L apart: n×L = 1×6s = 6s to max(L, D) = 6s + n×L = 12s":                     tm.upWindow(false),
	} {
		if !strings.HasPrefix(want.Formula, w) {
			t.Errorf("formula %q, want it to start %q", want.Formula, w)
		}
	}
	d := timingOfChecker(conf.VirtualServer{}, conf.RealServer{}, conf.Checker{Kind: "TCP_CHECK"})
	if f := d.downWindow(false).Formula; !strings.Contains(f, "delay_loop 1m0s (default)") || !strings.Contains(f, "retry 1 (default)") {
		t.Errorf("defaults not named: %s", f)
	}
}

// Each timer in a row may fire late: a checker's chain of attempts is
// widened once per timer.
func TestWidenPerTimer(t *testing.T) {
	late := 500 * time.Millisecond
	if w := (Window{Max: 10 * time.Second, Formula: "f"}).Widen(late); w.Max != 10500*time.Millisecond || w.Formula != "f + 500ms timer lateness" {
		t.Errorf("one timer: %s %q", w.Max, w.Formula)
	}
	if w := (Window{Max: 10 * time.Second, Hops: 3, Formula: "f"}).Widen(late); w.Max != 11500*time.Millisecond || w.Formula != "f + 3 timers × 500ms lateness" {
		t.Errorf("three timers: %s %q", w.Max, w.Formula)
	}
	vs := conf.VirtualServer{Timing: conf.Timing{DelayLoop: dur(6)}}
	c := conf.Checker{Kind: "HTTP_GET", URLs: []conf.URL{{}}, Timing: conf.Timing{ConnectTimeout: dur(3), Retry: num(2), DelayBeforeRetry: dur(2)}}
	tm := timingOfChecker(vs, conf.RealServer{}, c)
	for what, got := range map[string][2]int{
		"down refused: the attempt and 2 retries": {tm.downWindow(false).Hops, 3},
		"down dropped: and a timeout for each":    {tm.downWindow(true).Hops, 6},
		"up: a retry, then the pass":              {tm.upWindow(false).Hops, 2},
		"up dropped: and a stuck attempt":         {tm.upWindow(true).Hops, 3},
	} {
		if got[0] != got[1] {
			t.Errorf("%s: %d timers, want %d", what, got[0], got[1])
		}
	}
}
