//go:build linux

package check

import (
	"fmt"
	"strings"
	"time"

	"github.com/lvslab/lvslab/harness/keepalived/conf"
)

// The bounds a file implies, as keepalived 2.2.7 computes its timers
// (vrrp.h, vrrp.c; check_api.c, check_tcp.c, check_http.c) and RFC 3768
// and 5798 §6.1 define them. Each comes with the words that derive it,
// naming every value the file left to keepalived's defaults.

// Window is a bound on when something happens after an event: from Min
// to Max, and how that was derived.
type Window struct {
	Min, Max time.Duration
	Formula  string
	// Hops counts the timers in a row the event waits for (a checker's
	// attempt, its retries, its connect timeouts): each may fire late.
	// 0 means one.
	Hops int
	// Checks counts the checker's attempts in a row: the next timer
	// starts only once an attempt is over.
	Checks int
}

// Widen adds the host's timer lateness to the upper bound, once per
// timer the event waits for in a row.
func (w Window) Widen(late time.Duration) Window {
	if w.Hops <= 1 {
		w.Max += late
		w.Formula += fmt.Sprintf(" + %s timer lateness", roundMs(late))
		return w
	}
	w.Max += time.Duration(w.Hops) * late
	w.Formula += fmt.Sprintf(" + %d timers × %s lateness", w.Hops, roundMs(late))
	return w
}

func (w Window) String() string {
	if w.Min <= 0 {
		return fmt.Sprintf("≤ %s (%s)", roundMs(w.Max), w.Formula)
	}
	return fmt.Sprintf("%s to %s (%s)", roundMs(w.Min), roundMs(w.Max), w.Formula)
}

// Holds says whether d falls in the window.
func (w Window) Holds(d time.Duration) bool { return d >= w.Min && d <= w.Max }

func roundMs(d time.Duration) string {
	if d >= 10*time.Second {
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Millisecond).String()
}

// setting prints a value of the file with where it came from.
func setting[T any](name string, s conf.Setting[T], def T) (T, string) {
	if s.Set {
		return s.Value, fmt.Sprintf("%s %v", name, s.Value)
	}
	return def, fmt.Sprintf("%s %v (default)", name, def)
}

// vrrpTiming is an instance's advert interval, version and down-timer
// adverts as keepalived runs them.
type vrrpTiming struct {
	advert  time.Duration
	version int
	adverts int
	words   []string
}

func timingOf(f *conf.File, in conf.Instance) vrrpTiming {
	var t vrrpTiming
	var w string
	t.advert, w = setting("advert_int", in.AdvertInt, time.Second)
	t.words = append(t.words, w)
	defVersion := 2
	if f.Global.VRRPVersion.Set {
		defVersion = f.Global.VRRPVersion.Value
	}
	if len(in.VIPs) > 0 && in.VIPs[0].Prefix.Addr().Is6() {
		defVersion = 3
	}
	t.version, w = setting("version", in.Version, defVersion)
	t.words = append(t.words, w)
	defAdverts := 3
	if f.Global.DownTimerAdverts.Set {
		defAdverts = f.Global.DownTimerAdverts.Value
	}
	t.adverts, _ = setting("down_timer_adverts", in.DownTimerAdverts, defAdverts)
	if t.version == 2 {
		// VRRPv2 counts whole seconds.
		t.advert = max(time.Second, t.advert.Round(time.Second))
	}
	return t
}

// skew is Skew_Time: (256 − priority)/256 s in VRRPv2, that many advert
// intervals in VRRPv3.
func (t vrrpTiming) skew(priority int) time.Duration {
	unit := time.Second
	if t.version == 3 {
		unit = t.advert
	}
	return time.Duration(256-priority) * unit / 256
}

// masterDown is Master_Down_Interval for a backup of that priority.
func (t vrrpTiming) masterDown(priority int) time.Duration {
	return time.Duration(t.adverts)*t.advert + t.skew(priority)
}

// masterDownWindow bounds a backup's takeover after the master's last
// advert: Master_Down_Interval, less up to one advert interval already
// run when the master fell silent.
func (t vrrpTiming) masterDownWindow(priority int) Window {
	md := t.masterDown(priority)
	return Window{Min: md - t.advert, Max: md, Formula: fmt.Sprintf("%d × %s + skew (256 − %d)/256%s = %s; %s",
		t.adverts, t.advert, priority, map[bool]string{true: " × advert", false: " s"}[t.version == 3], roundMs(md), strings.Join(t.words, ", "))}
}

// checkerTiming is a checker's timing as keepalived runs it, each value
// from the checker, its real server, its virtual server or the default
// (check_data.c inherits delay_loop, connect_timeout, retry,
// delay_before_retry and warmup that way).
type checkerTiming struct {
	kind                  string
	delayLoop, connect    time.Duration
	retry                 int
	delayRetry, warmup    time.Duration
	warmupWords           string
	urls                  int  // HTTP_GET and SSL_GET: the URLs of one pass
	fastRecovery, timeout bool // fast_recovery; connect_timeout applies (not MISC_CHECK's)
	words                 []string
}

// checkerDefaults are keepalived 2.2.7's per checker: retry, and delay
// before retry (DNS_CHECK's is its delay_loop, set below).
var checkerDefaults = map[string]struct {
	retry int
	delay time.Duration
}{
	"HTTP_GET": {1, 3 * time.Second}, "SSL_GET": {1, 3 * time.Second}, "TCP_CHECK": {1, time.Second},
	"SMTP_CHECK": {1, time.Second}, "DNS_CHECK": {3, 0}, "MISC_CHECK": {0, time.Second},
	"UDP_CHECK": {1, time.Second}, "PING_CHECK": {1, time.Second},
}

func timingOfChecker(vs conf.VirtualServer, rs conf.RealServer, c conf.Checker) checkerTiming {
	t := checkerTiming{kind: c.Kind, urls: len(c.URLs), fastRecovery: c.FastRecovery.Value, timeout: c.Kind != "MISC_CHECK"}
	def := checkerDefaults[c.Kind]
	pick := func(name string, def time.Duration, ss ...conf.Setting[time.Duration]) (time.Duration, string) {
		for _, s := range ss {
			if s.Set {
				return s.Value, fmt.Sprintf("%s %s", name, s.Value)
			}
		}
		return def, fmt.Sprintf("%s %s (default)", name, def)
	}
	var w string
	t.delayLoop, w = pick("delay_loop", 60*time.Second, c.DelayLoop, rs.DelayLoop, vs.DelayLoop)
	t.words = append(t.words, w)
	if c.Kind == "DNS_CHECK" {
		def.delay = t.delayLoop
	}
	if t.timeout {
		t.connect, w = pick("connect_timeout", 5*time.Second, c.ConnectTimeout, rs.ConnectTimeout, vs.ConnectTimeout)
	} else {
		// check_misc.c: the script is killed after misc_timeout, else
		// after the virtual server's delay_loop.
		vsLoop := 60 * time.Second
		if vs.DelayLoop.Set {
			vsLoop = vs.DelayLoop.Value
		}
		t.connect, w = vsLoop, fmt.Sprintf("misc_timeout %s (default: the virtual server's delay_loop)", vsLoop)
		if c.MiscTimeout.Set && c.MiscTimeout.Value > 0 {
			t.connect, w = c.MiscTimeout.Value, fmt.Sprintf("misc_timeout %s", c.MiscTimeout.Value)
		}
	}
	t.words = append(t.words, w)
	t.delayRetry, w = pick("delay_before_retry", def.delay, c.DelayBeforeRetry, rs.DelayBeforeRetry, vs.DelayBeforeRetry)
	t.words = append(t.words, w)
	t.retry = def.retry
	w = fmt.Sprintf("retry %d (default)", t.retry)
	for _, s := range []conf.Setting[int]{c.Retry, rs.Retry, vs.Retry} {
		if s.Set {
			t.retry, w = s.Value, fmt.Sprintf("retry %d", s.Value)
			break
		}
	}
	t.words = append(t.words, w)
	// check_api.c: warmup defaults to the checker's delay_loop.
	t.warmup, t.warmupWords = pick("warmup", t.delayLoop, c.Warmup, rs.Warmup, vs.Warmup)
	if !c.Warmup.Set && !rs.Warmup.Set && !vs.Warmup.Set {
		t.warmupWords = fmt.Sprintf("warmup %s (default: delay_loop)", t.warmup)
	}
	return t
}

// settled is how long after keepalived starts the checker is in its
// steady state: its first check starts within 1 s + warmup (a random
// share of it, check_api.c), a pass of an HTTP_GET or SSL_GET checks its
// URLs delay_loop apart, and an attempt may take connect_timeout. Until
// then a checker starts "up" with its retries used, so that a first
// failure takes the server out at once.
func (t checkerTiming) settled() time.Duration {
	return time.Second + t.warmup + time.Duration(max(0, t.urls-1))*t.delayLoop + t.connect
}

// downWindow bounds when the checker takes its server out after a fault
// at t0 (check_tcp.c tcp_epilog, check_http.c epilog, check_misc.c): the
// attempt that meets the fault starts within delay_loop L; it and retry
// R more fail, delay_before_retry D apart. A refused connection, a route
// the director has as unreachable or a wrong answer fails an attempt at
// once; a dropped one (hang) after connect_timeout C.
func (t checkerTiming) downWindow(hang bool) Window {
	L, R, D, C := t.delayLoop, time.Duration(t.retry), t.delayRetry, t.connect
	words := strings.Join(t.words, ", ")
	if hang && t.timeout {
		min := (R+1)*C + R*D
		return Window{Min: min, Max: L + min, Hops: 2*t.retry + 2, Checks: t.retry + 1, Formula: fmt.Sprintf("(R+1)×C + R×D = %d×%s + %d×%s = %s to L + (R+1)×C + R×D = %s + %s = %s; %s",
			R+1, C, R, D, roundMs(min), L, roundMs(min), roundMs(L+min), words)}
	}
	min := R * D
	return Window{Min: min, Max: L + min, Hops: t.retry + 1, Checks: t.retry + 1, Formula: fmt.Sprintf("R×D = %d×%s = %s to L + R×D = %s + %s = %s; %s",
		R, D, roundMs(min), L, roundMs(min), roundMs(L+min), words)}
}

// upWindow bounds when the checker puts its server back after the fault
// ends. While a server is out its checker tries every max(L, D) (a
// dropped attempt still running may take C more). TCP_CHECK, UDP_CHECK,
// PING_CHECK and MISC_CHECK bring it back on one success; HTTP_GET and
// SSL_GET only on a whole pass after that success, its n URLs L apart
// (check_http.c epilog), at once with fast_recovery.
func (t checkerTiming) upWindow(hang bool) Window {
	L, D, C := t.delayLoop, t.delayRetry, t.connect
	retry := max(L, D)
	first, firstWords, hops := retry, fmt.Sprintf("max(L, D) = %s", roundMs(retry)), 1
	if hang && t.timeout {
		first, firstWords, hops = retry+C, fmt.Sprintf("max(L, D) + C = %s + %s = %s", roundMs(retry), C, roundMs(retry+C)), 2
	}
	words := strings.Join(t.words, ", ")
	if t.urls == 0 || t.fastRecovery {
		how := "one success"
		if t.urls > 0 {
			how = "one pass (fast_recovery)"
		}
		return Window{Max: first, Hops: hops, Checks: 1 + t.urls, Formula: fmt.Sprintf("%s, within %s; %s", how, firstWords, words)}
	}
	n := time.Duration(t.urls)
	return Window{Min: n * L, Max: first + n*L, Hops: hops + t.urls, Checks: 1 + t.urls, Formula: fmt.Sprintf("a success, then a pass of %d URL(s) L apart: n×L = %d×%s = %s to %s + n×L = %s; %s",
		t.urls, t.urls, L, roundMs(n*L), firstWords, roundMs(first+n*L), words)}
}
