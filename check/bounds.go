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
}

// Widen adds the host's timer lateness to the upper bound.
func (w Window) Widen(late time.Duration) Window {
	w.Max += late
	w.Formula += fmt.Sprintf(" + %s timer lateness", roundMs(late))
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
// (check_data.c inherits delay_loop, connect_timeout, retry and
// delay_before_retry that way).
type checkerTiming struct {
	kind                  string
	delayLoop, connect    time.Duration
	retry                 int
	delayRetry            time.Duration
	words                 []string
	successesToComeBackUp int
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
	t := checkerTiming{kind: c.Kind, successesToComeBackUp: 1}
	if c.Kind == "HTTP_GET" || c.Kind == "SSL_GET" {
		// One URL: two passes delay_loop apart (check_http.c epilog).
		t.successesToComeBackUp = 2
	}
	def := checkerDefaults[c.Kind]
	pick := func(name string, def time.Duration, ss ...conf.Setting[time.Duration]) time.Duration {
		for _, s := range ss {
			if s.Set {
				t.words = append(t.words, fmt.Sprintf("%s %s", name, s.Value))
				return s.Value
			}
		}
		t.words = append(t.words, fmt.Sprintf("%s %s (default)", name, def))
		return def
	}
	t.delayLoop = pick("delay_loop", 60*time.Second, c.DelayLoop, rs.DelayLoop, vs.DelayLoop)
	if c.Kind == "DNS_CHECK" {
		def.delay = t.delayLoop
	}
	t.connect = pick("connect_timeout", 5*time.Second, c.ConnectTimeout, rs.ConnectTimeout, vs.ConnectTimeout)
	t.delayRetry = pick("delay_before_retry", def.delay, c.DelayBeforeRetry, rs.DelayBeforeRetry, vs.DelayBeforeRetry)
	t.retry = def.retry
	retrySet := false
	for _, s := range []conf.Setting[int]{c.Retry, rs.Retry, vs.Retry} {
		if s.Set {
			t.retry, retrySet = s.Value, true
			break
		}
	}
	if retrySet {
		t.words = append(t.words, fmt.Sprintf("retry %d", t.retry))
	} else {
		t.words = append(t.words, fmt.Sprintf("retry %d (default)", t.retry))
	}
	return t
}

// downWindow bounds when the checker takes its server out after a fault
// at t0: the attempt that meets the fault starts within a delay_loop;
// it and retry more fail, delay_before_retry apart, each at once when
// refused and after connect_timeout when the packets are dropped.
func (t checkerTiming) downWindow(blackholed bool) Window {
	rd := time.Duration(t.retry) * t.delayRetry
	min := rd
	f := fmt.Sprintf("retry × delay_before_retry ... + delay_loop; %s", strings.Join(t.words, ", "))
	if blackholed {
		min += time.Duration(t.retry+1) * t.connect
		f = fmt.Sprintf("(retry+1) × connect_timeout + retry × delay_before_retry ... + delay_loop; %s", strings.Join(t.words, ", "))
	}
	return Window{Min: min, Max: min + t.delayLoop, Formula: f}
}

// upWindow bounds when it puts the server back after the fault ends: the
// next attempt within a delay_loop (a connect_timeout longer if one is
// stuck), and for HTTP_GET and SSL_GET a second pass a delay_loop later.
func (t checkerTiming) upWindow() Window {
	if t.successesToComeBackUp == 2 {
		return Window{Min: t.delayLoop, Max: max(t.delayRetry, t.delayLoop) + t.delayLoop + t.connect,
			Formula: fmt.Sprintf("two passes delay_loop apart (+ connect_timeout); %s", strings.Join(t.words, ", "))}
	}
	return Window{Max: t.delayLoop + t.connect, Formula: fmt.Sprintf("the next check within delay_loop (+ connect_timeout); %s", strings.Join(t.words, ", "))}
}
