//go:build linux

package loadgen

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The hot path is one request: send it, parse the response, record it.
// Its allocations are pinned at zero (what the loop saves: docs/findings.md).

// newTestLoop is a run of one client with one loop, for the hot path
// alone. The server is a separate process, so that the allocations and
// CPU time measured are the load generator's.
func newTestLoop(tb testing.TB, target Target, keepAlive bool) *loop {
	tb.Helper()
	r, err := newRun(Config{Targets: []Target{target}, Client: Here, Clients: 1, Duration: time.Hour, KeepAlive: keepAlive})
	if err != nil {
		tb.Fatal(err)
	}
	r.loops = 1
	l, err := newLoop(r, 0, 1)
	if err != nil {
		tb.Fatal(err)
	}
	r.start = time.Now()
	tb.Cleanup(l.close)
	return l
}

var connectionModes = []struct {
	name      string
	keepAlive bool
}{{"close", false}, {"keepalive", true}}

func TestNoAllocationPerRequest(t *testing.T) {
	target := stubServer(t, "rs1")
	for _, m := range connectionModes {
		l := newTestLoop(t, target, m.keepAlive)
		l.run(200) // warm up: the first response lends a server name, the histogram is made
		const per = 100
		allocs := testing.AllocsPerRun(20, func() { l.run(per) })
		if errs := len(l.rec.errors); errs > 0 || l.rec.ok == 0 {
			t.Fatalf("%s: %d ok, errors %v: the stub server did not answer", m.name, l.rec.ok, l.rec.errors)
		}
		if allocs != 0 {
			t.Errorf("%s: %.0f allocations per %d requests; the hot path (send, parse, record) must allocate nothing", m.name, allocs, per)
		}
	}
}

// BenchmarkRequest is the whole hot path against a stub server on
// loopback; cpu-ns/op is the load generator's own CPU time per request
// (user and system), the figure to compare before and after a change.
func BenchmarkRequest(b *testing.B) {
	target := stubServer(b, "rs1")
	for _, m := range connectionModes {
		b.Run(m.name, func(b *testing.B) {
			l := newTestLoop(b, target, m.keepAlive)
			l.run(100)
			b.ReportAllocs()
			var ru0, ru1 unix.Rusage
			unix.Getrusage(unix.RUSAGE_SELF, &ru0)
			b.ResetTimer()
			l.run(int64(b.N))
			b.StopTimer()
			unix.Getrusage(unix.RUSAGE_SELF, &ru1)
			cpu := time.Duration(ru1.Utime.Nano() - ru0.Utime.Nano() + ru1.Stime.Nano() - ru0.Stime.Nano())
			b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
			if len(l.rec.errors) > 0 {
				b.Fatalf("errors %v", l.rec.errors)
			}
		})
	}
}

// realResponse is what a lab's real server answers (harness.RealServer).
const realResponse = "HTTP/1.1 200 OK\r\nContent-Length: 128\r\nContent-Type: text/plain\r\n" +
	"Date: Fri, 27 Nov 2026 12:00:00 GMT\r\nX-Body-Bytes: 0\r\nX-Client-Addr: 192.0.2.100:40312\r\n" +
	"X-Real-Server: rs3\r\n\r\n" +
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"

func BenchmarkParse(b *testing.B) {
	var p response
	var names serverNames
	var lines lineBuffers
	in := []byte(realResponse)
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		p.reset()
		if done, err := p.feed(in, &names, &lines); !done || err != nil {
			b.Fatal(done, err)
		}
	}
}

func BenchmarkRecord(b *testing.B) {
	var s series
	var rec recorder
	rec.init(&s)
	var names serverNames
	id := names.id([]byte("rs3"))
	b.ReportAllocs()
	i := int64(0)
	for b.Loop() {
		i++
		rec.record(i*1000, i*1000-int64(800*time.Microsecond), false, id, nil, &names)
	}
}

func TestParseAndRecordAllocateNothing(t *testing.T) {
	var p response
	var names serverNames
	var lines lineBuffers
	var s series
	var rec recorder
	rec.init(&s)
	in := []byte(realResponse)
	now := int64(0)
	step := func() {
		p.reset()
		done, err := p.feed(in, &names, &lines)
		now += int64(time.Millisecond)
		rec.record(now, now-int64(time.Millisecond), false, p.server, err, &names)
		if !done || err != nil {
			t.Fatal(done, err)
		}
	}
	step()
	if n := testing.AllocsPerRun(1000, step); n != 0 {
		t.Errorf("parse and record: %.1f allocations per response, want 0", n)
	}
}
