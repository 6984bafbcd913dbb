//go:build linux

package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/lvslab/lvslab/topology"
)

func serve(t *testing.T, h http.HandlerFunc) Target {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	ap := netip.MustParseAddrPort(strings.TrimPrefix(s.URL, "http://"))
	return Target{Name: "t", Addr: ap}
}

func named(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Real-Server", name)
		w.Write([]byte("hello"))
	}
}

func TestClosedLoopStopsAtRequestCount(t *testing.T) {
	a, b := serve(t, named("a")), serve(t, named("b"))
	for _, keep := range []bool{false, true} {
		res, err := Run(context.Background(), Config{Targets: []Target{a, b}, Client: Here, Clients: 4,
			Duration: time.Minute, Requests: 200, KeepAlive: keep})
		if err != nil {
			t.Fatal(err)
		}
		if res.Successes != 200 || res.Requests != 200 || res.ErrorCount() != 0 {
			t.Fatalf("keepalive=%v: %d requests, %d ok, errors %v; want exactly 200 ok", keep, res.Requests, res.Successes, res.Errors)
		}
		if res.Servers["a"] != 100 || res.Servers["b"] != 100 {
			t.Errorf("round-robin over two targets gave %v, want 100 each", res.Servers)
		}
		if !keep && res.Connections != 200 {
			t.Errorf("one connection per request: %d connections for 200 requests", res.Connections)
		}
		if keep && res.Connections > 8 {
			t.Errorf("keep-alive: %d connections for 4 clients and 2 targets", res.Connections)
		}
		var sum int64
		for _, s := range res.Series {
			sum += s.Requests
		}
		if sum != 200 || res.Histogram().TotalCount() != 200 {
			t.Errorf("series adds up to %d and histogram holds %d, want 200", sum, res.Histogram().TotalCount())
		}
	}
}

func TestDurationBoundsTheRun(t *testing.T) {
	slow := serve(t, func(w http.ResponseWriter, r *http.Request) { time.Sleep(20 * time.Millisecond) })
	start := time.Now()
	res, err := Run(context.Background(), Config{Targets: []Target{slow}, Client: Here, Clients: 2, Duration: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("a 300ms run took %s", took)
	}
	if res.Successes == 0 || res.Latency.P50 < 20 {
		t.Errorf("got %d successes with p50 %.1fms; want some, each ≥ 20ms", res.Successes, res.Latency.P50)
	}
}

// slowSockets takes its time to make each socket, as a connect that waits
// would: a latency that starts before the connect holds it, one that
// starts at the first write does not.
type slowSockets struct{ delay time.Duration }

func (s slowSockets) Socket(family, typ int) (int, error) {
	time.Sleep(s.delay)
	return Here.Socket(family, typ)
}

func TestLatencyStartsWhereTheClockSays(t *testing.T) {
	target := serve(t, named("a"))
	const delay = 30 * time.Millisecond
	for _, c := range []struct {
		from     Clock
		min, max float64 // ms
	}{
		{"", 30, math.Inf(1)},
		{FromConnect, 30, math.Inf(1)},
		{FromWrite, 0, 30},
	} {
		res, err := Run(context.Background(), Config{Targets: []Target{target}, Client: slowSockets{delay}, Clients: 1,
			Duration: time.Minute, Requests: 5, LatencyFrom: c.from})
		if err != nil {
			t.Fatal(err)
		}
		if res.Successes != 5 {
			t.Fatalf("latency from %q: %d successes, want 5", c.from, res.Successes)
		}
		// A socket made in 30 ms and a loopback answer: every request
		// takes at least 30 ms from before its connect, and (the median,
		// on a busy machine) less from its write.
		if res.Latency.Min < c.min || res.Latency.P50 >= c.max {
			t.Errorf("latency from %q: min %.2f ms, p50 %.2f ms; want min ≥ %g and p50 < %g", c.from, res.Latency.Min, res.Latency.P50, c.min, c.max)
		}
		if want := map[Clock]Clock{FromWrite: FromWrite}[c.from]; res.LatencyFrom != want {
			t.Errorf("latency from %q: the result says %q, want %q", c.from, res.LatencyFrom, want)
		}
	}
}

func TestOpenLoopMeasuresFromScheduledTime(t *testing.T) {
	// One request in flight at a time, each taking 50ms, offered at 100/s:
	// requests queue up, and their latency must show the queueing.
	slow := serve(t, func(w http.ResponseWriter, r *http.Request) { time.Sleep(50 * time.Millisecond) })
	res, err := Run(context.Background(), Config{Targets: []Target{slow}, Client: Here, Clients: 1,
		Rate: 100, Duration: 10 * time.Second, Requests: 10, KeepAlive: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Successes != 10 {
		t.Fatalf("%d successes, want 10", res.Successes)
	}
	// The 10th request was scheduled at 90ms and finished near 500ms.
	if res.Latency.Max < 300 {
		t.Errorf("max latency %.1fms: the open loop hid the queueing (coordinated omission)", res.Latency.Max)
	}
	if res.Loop != "open" {
		t.Errorf("loop %q, want open", res.Loop)
	}
}

func TestErrorKinds(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := netip.MustParseAddrPort(l.Addr().String())
	l.Close()
	short := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.Write([]byte("only ten b"))
	})
	bad := serve(t, func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", http.StatusServiceUnavailable) })
	for _, c := range []struct {
		target Target
		kind   ErrorKind
	}{{Target{Addr: closed}, ErrRefused}, {short, ErrShortBody}, {bad, ErrBadStatus}} {
		res, err := Run(context.Background(), Config{Targets: []Target{c.target}, Client: Here, Clients: 1, Duration: time.Minute, Requests: 3})
		if err != nil {
			t.Fatal(err)
		}
		if res.Errors[c.kind] != 3 || res.Successes != 0 {
			t.Errorf("want 3 %s errors, got %v and %d successes", c.kind, res.Errors, res.Successes)
		}
	}
}

func TestCancelMarksInterrupted(t *testing.T) {
	slow := serve(t, func(w http.ResponseWriter, r *http.Request) { time.Sleep(time.Second) })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	res, err := Run(ctx, Config{Targets: []Target{slow}, Client: Here, Clients: 2, Duration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Interrupted || res.ErrorCount() != 0 || time.Since(start) > 900*time.Millisecond {
		t.Errorf("interrupted=%v errors=%v after %s: want a prompt, clean stop", res.Interrupted, res.Errors, time.Since(start))
	}
}

func TestValidation(t *testing.T) {
	_, err := Run(context.Background(), Config{})
	for _, want := range []string{"no targets", "no client", "clients 0", "duration 0s"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
	_, err = Run(context.Background(), Config{Targets: []Target{{Name: "v6", Addr: netip.MustParseAddrPort("[::1]:80")}},
		Sources: []netip.Addr{netip.MustParseAddr("127.0.0.1")}, Client: Here, Clients: 1, Duration: time.Second})
	if err == nil || !strings.Contains(err.Error(), "different IP families") {
		t.Errorf("an IPv4 source for an IPv6 target: error %v", err)
	}
}

// Settings outside sane bounds are refused before anything is sent, each
// with what is wrong and what to give instead.
func TestSettingsOutOfBounds(t *testing.T) {
	ok := Config{Clients: 16, Duration: time.Second}
	for _, c := range []struct {
		name string
		set  func(*Config)
		want string
	}{
		// 1e-10/s once overflowed the interval between requests, which then
		// sent 200 requests in 35 ms.
		{"tiny rate", func(c *Config) { c.Rate = 1e-10 }, "rate 1e-10: give 0 (closed loop) or 0.01 to 1e+06 requests/s"},
		// NaN ran the whole load and then could not be written as JSON.
		{"NaN rate", func(c *Config) { c.Rate = math.NaN() }, "rate NaN"},
		{"infinite rate", func(c *Config) { c.Rate = math.Inf(1) }, "rate +Inf"},
		{"huge rate", func(c *Config) { c.Rate = 2e6 }, "rate 2e+06"},
		{"negative rate", func(c *Config) { c.Rate = -1 }, "rate -1"},
		{"tiny timeout", func(c *Config) { c.Timeout = time.Microsecond }, "timeout 1µs: use 1ms to 5m0s"},
		{"huge timeout", func(c *Config) { c.Timeout = time.Hour }, "timeout 1h0m0s"},
		{"negative timeout", func(c *Config) { c.Timeout = -time.Second }, "timeout -1s"},
		{"clients", func(c *Config) { c.Clients = MaxClients + 1 }, "clients 10001: use 1 to 10000"},
		{"duration", func(c *Config) { c.Duration = 25 * time.Hour }, "duration 25h0m0s"},
		{"requests", func(c *Config) { c.Requests = -1 }, "requests -1"},
		{"relative path", func(c *Config) { c.Path = "index.html" }, `path "index.html": start it with /`},
		{"path with a header", func(c *Config) { c.Path = "/ HTTP/1.1\r\nX: y" }, "byte 1 is ' '"},
		{"long path", func(c *Config) { c.Path = "/" + strings.Repeat("a", MaxPath) }, "path of 2049 bytes: use at most 2048"},
		{"burst over clients", func(c *Config) { c.Rate, c.Burst = 10, 17 }, "burst 17: use 0 or 1 (evenly spaced) up to clients (16)"},
		{"negative burst", func(c *Config) { c.Rate, c.Burst = 10, -1 }, "burst -1"},
		{"burst in closed loop", func(c *Config) { c.Burst = 4 }, "burst 4: bursts are an open loop's: give a rate too"},
		{"unknown clock", func(c *Config) { c.LatencyFrom = "send" }, `latency-from "send": use connect or write`},
		{"write clock in open loop", func(c *Config) { c.Rate, c.LatencyFrom = 10, FromWrite }, "latency-from write: an open loop's latency starts at each request's scheduled time"},
		// --procs 100000 exhausted the Go runtime's threads before anything ran.
		{"procs over the CPUs", func(c *Config) { c.Procs = 100000 }, "procs 100000: use 0 (every CPU) to"},
		{"negative procs", func(c *Config) { c.Procs = -1 }, "procs -1"},
	} {
		cfg := ok
		c.set(&cfg)
		err := cfg.CheckSettings()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one that says %q", c.name, err, c.want)
		}
		cfg.Targets, cfg.Client = []Target{{Name: "t", Addr: netip.MustParseAddrPort("127.0.0.1:9")}}, Here
		if _, err := Run(context.Background(), cfg); err == nil {
			t.Errorf("%s: Run accepted it", c.name)
		}
	}
	if err := ok.CheckSettings(); err != nil {
		t.Errorf("sane settings refused: %v", err)
	}
	edge := Config{Clients: 1, Duration: time.Second, Rate: MinRate, Timeout: MaxTimeout, Path: "/?size=65536"}
	if err := edge.CheckSettings(); err != nil {
		t.Errorf("settings at the bounds refused: %v", err)
	}
}

// A request's timeout never outlives the run: what is in flight when the
// duration ends is cut short and counted apart, not waited for.
func TestRunEndsByItsDeadline(t *testing.T) {
	hang := serve(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	start := time.Now()
	res, err := Run(context.Background(), Config{Targets: []Target{hang}, Client: Here, Clients: 3,
		Duration: 300 * time.Millisecond, Timeout: 6 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("a 300ms run with a 6s timeout took %s", took)
	}
	if res.Unfinished != 3 || res.Requests != 0 {
		t.Errorf("%d unfinished, %d requests (errors %v): want the 3 in flight cut short and nothing counted", res.Unfinished, res.Requests, res.Errors)
	}
	tableSays(t, res, "3 cut short by the end of the run")
}

// tableSays fails t unless res's table holds want.
func tableSays(t *testing.T, res *Result, want string) {
	t.Helper()
	var buf bytes.Buffer
	if err := res.WriteTable(&buf); err != nil || !strings.Contains(buf.String(), want) {
		t.Errorf("the table does not say %q (%v):\n%s", want, err, buf.String())
	}
}

// A request that times out before the end of the run is an error.
func TestTimeoutIsAnError(t *testing.T) {
	hang := serve(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	res, err := Run(context.Background(), Config{Targets: []Target{hang}, Client: Here, Clients: 2,
		Duration: 2 * time.Second, Requests: 2, Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors[ErrTimeout] != 2 || res.Unfinished != 0 {
		t.Errorf("errors %v, %d unfinished: want 2 timeouts", res.Errors, res.Unfinished)
	}
}

// Latencies beyond the histogram's range are counted, and recorded at its
// top: a slow request is never dropped while counted as a success.
func TestLatencyBeyondRangeIsCounted(t *testing.T) {
	var s series
	l := &loop{}
	l.rec.init(&s)
	rec, names := &l.rec, &l.names
	top := rec.hist.HighestTrackableValue()
	rec.record(int64(MaxDuration)+int64(time.Hour), 0, true, noServer, nil, names)
	rec.record(int64(time.Millisecond), 0, true, noServer, nil, names)
	if rec.overRange != 1 || rec.hist.TotalCount() != 2 || rec.hist.Max() < top {
		t.Errorf("over range %d, histogram holds %d with max %d: want 1 over range, both recorded, the slow one at the top (%d)",
			rec.overRange, rec.hist.TotalCount(), rec.hist.Max(), top)
	}
	res := (&run{}).merge([]*loop{l}, time.Time{})
	if res.Latency.OverRange != 1 || res.Successes != 2 {
		t.Errorf("result: %d over range, %d successes", res.Latency.OverRange, res.Successes)
	}
}

func TestSummaryAndTable(t *testing.T) {
	h := newHistogram()
	for i := int64(1); i <= 1000; i++ {
		h.RecordValue(i * 1000) // 1ms … 1000ms
	}
	l := summarise(h)
	if l.P50 < 495 || l.P50 > 505 || l.P99 < 985 || l.P99 > 995 || l.Max < 999 || l.Min != 1 {
		t.Errorf("quantiles off: %+v", l)
	}
	r := &Result{Loop: "closed", Connection: "new", Clients: 2, Successes: 9, Errors: map[ErrorKind]int64{ErrReset: 1},
		Servers: map[string]int64{"rs10": 1, "rs2": 8}, Latency: l}
	r.Requests = 10
	var buf bytes.Buffer
	r.WriteTable(&buf)
	out := buf.String()
	for _, want := range []string{"10 (9 ok, 1 failed)", "reset 1", "rs2 8, rs10 1", "p99"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestTargetsFor(t *testing.T) {
	spec, err := topology.Plan(topology.Paper())
	if err != nil {
		t.Fatal(err)
	}
	direct, _ := TargetsFor(spec, "direct", false)
	if len(direct) != 8 || direct[2].Addr.String() != "192.0.2.13:80" {
		t.Errorf("direct targets %v", direct)
	}
	vip, _ := TargetsFor(spec, "vip", true)
	if vip[0].Addr.String() != "[2001:db8:f::10]:80" {
		t.Errorf("vip6 %v", vip)
	}
	if _, err := TargetsFor(spec, "rs9", false); err == nil || !strings.Contains(err.Error(), "rs1…rs8") {
		t.Errorf("rs9: %v", err)
	}
	if n := len(SourcesFor(spec, false)); n != 4 {
		t.Errorf("%d client sources, want 4", n)
	}
}

// readAll feeds a response to the parser in the given pieces, then the end
// of the connection if it is not done by then.
func readAll(pieces ...string) (status int, server string, closeConn bool, err error) {
	var p response
	var names serverNames
	var lines lineBuffers
	p.reset()
	done := false
	for _, piece := range pieces {
		if done, err = p.feed([]byte(piece), &names, &lines); done {
			break
		}
	}
	if !done {
		p.close = true
		err = p.eof()
	}
	p.giveBack(&lines)
	if p.server != noServer {
		server = names.names[p.server]
	}
	return p.status, server, p.close, err
}

type lineBuffers struct{ n int }

func (l *lineBuffers) lend() []byte  { l.n++; return make([]byte, 0, 16) }
func (l *lineBuffers) take(b []byte) { l.n-- }

func TestReadResponse(t *testing.T) {
	cases := []struct {
		in      string
		status  int
		server  string
		close   bool
		wantErr error
	}{
		{"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-Real-Server: rs2\r\n\r\nabc", 200, "rs2", false, nil},
		{"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", 200, "", true, nil},
		{"HTTP/1.1 200 OK\nx-real-server:\trs7 \nContent-Length: 1\n\nz", 200, "rs7", false, nil},
		{"HTTP/1.1 200 OK\r\nX-Real-Server: rs1\r\nX-Real-Server: rs2\r\nContent-Length: 0\r\n\r\n", 200, "rs1", false, nil},
		{"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n", 200, "", false, nil},
		{"HTTP/1.1 200 OK\r\nConnection: te, close\r\nContent-Length: 0\r\n\r\n", 200, "", true, nil},
		{"HTTP/1.0 503 Busy\r\nContent-Length: 0\r\n\r\n", 503, "", true, errBadStatus},
		{"HTTP/1.1 204 No Content\r\n\r\n", 204, "", true, errBadStatus},
		{"HTTP/1.1 200 OK\r\n\r\nuntil close", 200, "", true, nil},
		{"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 200, "", true, errShortBody},
		{"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nab", 200, "", false, errTrailing},
		{"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 200, "", false, errMalformed},
		{"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 200, "", false, errMalformed},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 200, "", true, errMalformed},
		{"HTTP/1.1 200 OK\r\nno colon\r\n\r\n", 200, "", true, errMalformed},
		{"HTTP/1.1 2x0 OK\r\n\r\n", 0, "", true, errMalformed},
		{"HTTP/1.1 2000 OK\r\n\r\n", 0, "", true, errMalformed},
		{"SSH-2.0-OpenSSH\r\n", 0, "", true, errMalformed},
		{"HTTP/1.1 200 OK\r\nContent-Le", 200, "", true, io.ErrUnexpectedEOF},
		{"", 0, "", true, io.EOF},
		{"HTTP/1.1 200 OK\r\nX-Pad: " + strings.Repeat("p", maxHeader) + "\r\n\r\n", 200, "", true, errHeaderLarge},
	}
	for _, c := range cases {
		// Whole, cut in two at every place, and byte by byte: the same answer.
		splits := [][]string{{c.in}}
		if c.wantErr != errTrailing { // bytes in a later read belong to the next response
			for i := 1; i < len(c.in); i++ {
				splits = append(splits, []string{c.in[:i], c.in[i:]})
			}
			var bytewise []string
			for i := range len(c.in) {
				bytewise = append(bytewise, c.in[i:i+1])
			}
			splits = append(splits, bytewise)
		}
		for _, pieces := range splits {
			status, server, closeConn, err := readAll(pieces...)
			if c.wantErr != nil {
				if !errors.Is(err, c.wantErr) {
					t.Errorf("%q in %d pieces: error %v, want %v", c.in, len(pieces), err, c.wantErr)
				}
				continue
			}
			if err != nil || status != c.status || server != c.server || closeConn != c.close {
				t.Errorf("%q in %d pieces: got %d %q close=%v err=%v", c.in, len(pieces), status, server, closeConn, err)
			}
		}
	}
}

// What a run holds in memory is bounded by its clients, not its duration:
// per client (and target, with keep-alive) one conn, per loop one
// histogram, and one per-second series for the whole run. The bound
// lvslab load --help states rests on these sizes.
func TestMemoryBound(t *testing.T) {
	if n := unsafe.Sizeof(conn{}); n > ConnBytes {
		t.Errorf("a connection's state is %d bytes, more than the %d the stated bound allows", n, ConnBytes)
	}
	if n := newHistogram().ByteSize(); n > HistogramBytes {
		t.Errorf("a histogram is %d bytes, more than the %d the stated bound allows", n, HistogramBytes)
	}
	if n := int(unsafe.Sizeof(secondAcc{})); n > SecondBytes {
		t.Errorf("a second of the series is %d bytes, more than %d", n, SecondBytes)
	}
	if n := readBuffer + eventBatch*int(unsafe.Sizeof(unix.EpollEvent{})); n > LoopBytes {
		t.Errorf("a loop's buffers are %d bytes, more than %d", n, LoopBytes)
	}
	if b := MemoryBound(MaxClients, 8, true, MaxDuration, 64); b > 200<<20 {
		t.Errorf("the bound for %d clients, 8 targets, keep-alive, %s on 64 CPUs is %d MiB", MaxClients, MaxDuration, b>>20)
	}
	// One series for the run, however many loops: a 2.5 s run of 8 clients
	// on 4 loops holds 3 seconds.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	res, err := Run(context.Background(), Config{Targets: []Target{serve(t, named("a"))}, Client: Here, Clients: 8, Duration: 2500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Series) != 3 {
		t.Errorf("a series of %d seconds, want 3", len(res.Series))
	}
}

// The open loop's loops share the schedule: together they send the rate
// asked, whatever their number.
func TestOpenLoopRateOverLoops(t *testing.T) {
	target := serve(t, named("a"))
	for _, procs := range []int{1, 4} {
		prev := runtime.GOMAXPROCS(procs)
		res, err := Run(context.Background(), Config{Targets: []Target{target}, Client: Here, Clients: 8,
			Rate: 400, Duration: time.Second, KeepAlive: true})
		runtime.GOMAXPROCS(prev)
		if err != nil {
			t.Fatal(err)
		}
		// 400 requests are due in the first second, the last at 997.5 ms:
		// each one sent (ended or cut short at the end) or counted unsent.
		if n := res.Requests + res.Unfinished + res.Unsent; n < 399 || n > 400 || res.ErrorCount() > 0 {
			t.Errorf("%d loops: %d requests due (%d ended, %d unfinished, %d unsent; errors %v), want 400",
				procs, n, res.Requests, res.Unfinished, res.Unsent, res.Errors)
		}
	}
}

// Bursts keep the mean rate: 400/s in bursts of 8 is 50 bursts a second,
// each 8 requests due at once, every one sent or counted unsent.
func TestOpenLoopBursts(t *testing.T) {
	r := &run{interval: float64(time.Millisecond), burst: 4}
	for seq, want := range []int64{0, 0, 0, 0, 4e6, 4e6, 4e6, 4e6, 8e6} {
		if got := r.scheduled(int64(seq)); got != want {
			t.Errorf("request %d due at %d ns, want %d (its burst's start)", seq, got, want)
		}
	}
	for t0, want := range map[int64]int64{0: 0, 1: 4, 4e6: 4, 4e6 + 1: 8} {
		if got := r.dueBefore(t0); got != want {
			t.Errorf("due before %d ns: %d, want %d", t0, got, want)
		}
	}
	target := serve(t, named("a"))
	var due []time.Time
	var mu sync.Mutex
	res, err := Run(context.Background(), Config{Targets: []Target{target}, Client: Here, Clients: 8,
		Rate: 400, Burst: 8, Duration: time.Second, KeepAlive: true,
		Observe: func(scheduled, done time.Time, err error) {
			mu.Lock()
			due = append(due, scheduled)
			mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	if n := res.Requests + res.Unfinished + res.Unsent; n != 400 || res.ErrorCount() > 0 {
		t.Errorf("%d requests due (%d ended, %d unfinished, %d unsent; errors %v), want 400",
			n, res.Requests, res.Unfinished, res.Unsent, res.Errors)
	}
	times := map[time.Time]int{}
	for _, d := range due {
		times[d]++
	}
	for d, n := range times {
		if n > 8 {
			t.Errorf("%d requests due at %s, want bursts of at most 8", n, d)
		}
	}
	if len(times) > 60 {
		t.Errorf("requests came due at %d distinct times, want about 50 bursts", len(times))
	}
}

// Run calls Progress once a second and never after it returns: the
// command clears its live progress line when Run returns, and a call
// after that left the line (without a newline) at the end of its output.
func TestNoProgressAfterRun(t *testing.T) {
	target := serve(t, named("a"))
	var calls, after atomic.Int32
	var returned atomic.Bool
	for range 3 {
		_, err := Run(context.Background(), Config{Targets: []Target{target}, Client: Here, Clients: 2, Duration: 1010 * time.Millisecond,
			Progress: func(Second) {
				calls.Add(1)
				time.Sleep(20 * time.Millisecond) // a slow terminal
				if returned.Load() {
					after.Add(1)
				}
			}})
		returned.Store(true)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
		returned.Store(false)
	}
	if after.Load() > 0 || calls.Load() == 0 {
		t.Errorf("%d progress calls, %d of them after Run returned", calls.Load(), after.Load())
	}
}

func TestIPv6(t *testing.T) {
	l, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Fatalf("IPv6 loopback: %v (the load generator must be tested on IPv6)", err)
	}
	s := httptest.NewUnstartedServer(named("v6"))
	s.Listener.Close()
	s.Listener = l
	s.Start()
	t.Cleanup(s.Close)
	target := Target{Name: "v6", Addr: netip.MustParseAddrPort(l.Addr().String())}
	res, err := Run(context.Background(), Config{Targets: []Target{target}, Sources: []netip.Addr{netip.IPv6Loopback()},
		Client: Here, Clients: 2, Duration: time.Minute, Requests: 20})
	if err != nil {
		t.Fatal(err)
	}
	if res.Successes != 20 || res.Servers["v6"] != 20 {
		t.Errorf("%d ok, servers %v, errors %v: want 20 from v6", res.Successes, res.Servers, res.Errors)
	}
}

// An open loop that cannot hold its rate (too few clients for the server's
// pace) says so: the requests it could not send are counted, not lost.
func TestOpenLoopCountsWhatItCouldNotSend(t *testing.T) {
	slow := serve(t, func(w http.ResponseWriter, r *http.Request) { time.Sleep(100 * time.Millisecond) })
	res, err := Run(context.Background(), Config{Targets: []Target{slow}, Client: Here, Clients: 1,
		Rate: 100, Duration: time.Second, KeepAlive: true})
	if err != nil {
		t.Fatal(err)
	}
	// 100 due; one client at 100 ms a request sends about 10.
	if n := res.Requests + res.Unfinished + res.Unsent; n < 99 || n > 100 || res.Unsent < 80 {
		t.Errorf("%d ended, %d unfinished, %d unsent: want 100 due, most of them unsent", res.Requests, res.Unfinished, res.Unsent)
	}
	tableSays(t, res, "due but never sent")
}

// The coordinated-omission correction wrk applies before it prints: a slow
// sample also stands for the requests its connection would have sent.
func TestCorrectLatencyAsWrk(t *testing.T) {
	h := newHistogram()
	h.RecordValues(1000, 99)  // 1 ms
	h.RecordValue(100 * 1000) // 100 ms
	c := CorrectLatency(h, 10*1000)
	// 100 ms with a 10 ms cycle adds 90, 80, … 20 ms: 8 samples (wrk stops
	// above the interval), so the 107th of 108 is 90 ms, and the mean
	// (99 + 440 + 100) / 108 ms.
	if c.P50 != 1 || c.P99 < 89.9 || c.P99 > 90.1 || c.Max < 99.9 || c.Mean < 5.9 || c.Mean > 5.93 {
		t.Errorf("corrected %+v: want p50 1 ms, p99 90 ms, max 100 ms, mean 5.92 ms", c)
	}
	if raw := summarise(h); raw.P99 != 1 {
		t.Errorf("raw p99 %.3f, want 1 ms", raw.P99)
	}
	if c := CorrectLatency(h, 0); c != summarise(h) {
		t.Errorf("no interval: %+v, want the raw summary", c)
	}
}

// socketsUpTo makes n sockets, then fails as a process out of descriptors.
type socketsUpTo struct{ n atomic.Int32 }

func (s *socketsUpTo) Socket(family, typ int) (int, error) {
	if s.n.Add(-1) < 0 {
		return -1, unix.EMFILE
	}
	return Here.Socket(family, typ)
}

// A host out of descriptors (ulimit -n) fails a client's socket at once:
// that is an error of its own kind, the client backs off, and the
// connections that did open are still read (the loop used to spin in
// issue, never reading them: 0 ok, every request failed).
func TestSocketErrorBacksOffAndOpenConnectionsAreServed(t *testing.T) {
	slow := serve(t, func(w http.ResponseWriter, r *http.Request) { time.Sleep(200 * time.Millisecond) })
	sockets := &socketsUpTo{}
	sockets.n.Store(3)
	res, err := Run(context.Background(), Config{Targets: []Target{slow}, Client: sockets, Clients: 8, Duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.Successes != 3 {
		t.Errorf("%d ok, %d cut short: want the 3 connections that opened served", res.Successes, res.Unfinished)
	}
	// Each client tries at most ~16 times in a second (1, 2, … 64 ms, then
	// every 100 ms).
	if n := res.Errors[ErrEMFILE]; n == 0 || n > 8*20 || res.ErrorCount() != n {
		t.Errorf("errors %v: want only emfile, at most %d", res.Errors, 8*20)
	}
	tableSays(t, res, "emfile")
}

func TestHostLimitsAreErrorsOfTheirOwn(t *testing.T) {
	for errno, kind := range map[unix.Errno]ErrorKind{unix.EMFILE: ErrEMFILE, unix.ENFILE: ErrENFILE,
		unix.EADDRNOTAVAIL: ErrEADDRNOTAVAIL, unix.ENOBUFS: ErrENOBUFS, unix.ENOMEM: ErrENOMEM} {
		if got := Classify(fmt.Errorf("socket: %w", errno)); got != kind {
			t.Errorf("%v counted as %s, want %s", errno, got, kind)
		}
	}
}
