//go:build linux

package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Run sends the load and returns what it measured. Cancelling ctx
// (Ctrl-C) ends the run early; the result is then marked interrupted.
// Requests in flight when the run ends (its duration, or ctx) are cut
// short and counted as unfinished, neither successes nor errors.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	r, err := newRun(cfg)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	loops, err := r.newLoops()
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	var ru0 unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru0)
	busy0, total0 := machineTicks()
	r.start = time.Now()

	var wg sync.WaitGroup
	for _, l := range loops {
		wg.Go(func() {
			defer l.close()
			l.run(math.MaxInt64)
		})
	}
	halt := context.AfterFunc(ctx, func() {
		for _, l := range loops {
			l.halt()
		}
	})
	defer halt()
	progressDone := make(chan struct{})
	var progressWG sync.WaitGroup
	if cfg.Progress != nil {
		progressWG.Go(func() { r.progress(loops, progressDone) })
	}
	wg.Wait()
	close(progressDone)
	// No progress call may come after Run returns: a progress line
	// printed after the caller cleared it would be left without a newline.
	progressWG.Wait()
	end := time.Now()
	var ru1 unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru1)
	res := r.merge(loops, end)
	res.CPU = cpuUse(ru0, ru1, end.Sub(r.start))
	if busy1, total1 := machineTicks(); total1 > total0 {
		res.CPU.MachineBusy = float64(busy1-busy0) / float64(total1-total0)
	}
	res.Interrupted = ctx.Err() != nil
	return res, nil
}

// run is what a run's loops share.
type run struct {
	cfg    Config
	start  time.Time
	length int64 // ns: the run's duration
	loops  int
	// interval is the open loop's mean time between requests, in ns;
	// burst how many come due at once (at least 1).
	interval float64
	burst    int64
	issued   atomic.Int64
	dst      []rawSockaddr // by target
	src      []rawSockaddr
	req      [][]byte // the request, by target
	series   series
}

func newRun(cfg Config) (*run, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	loops := runtime.GOMAXPROCS(0)
	if cfg.Procs > 0 {
		loops = min(loops, cfg.Procs)
	}
	r := &run{cfg: cfg, length: int64(cfg.Duration), loops: min(loops, cfg.Clients)}
	if cfg.Rate > 0 {
		r.interval = float64(time.Second) / cfg.Rate
		r.burst = int64(max(1, cfg.Burst))
	}
	for _, t := range cfg.Targets {
		r.dst = append(r.dst, newRawSockaddr(t.Addr))
		req := "GET " + cfg.Path + " HTTP/1.1\r\nHost: " + t.Addr.String() + "\r\nUser-Agent: lvslab\r\n"
		if !cfg.KeepAlive {
			req += "Connection: close\r\n"
		}
		r.req = append(r.req, []byte(req+"\r\n"))
	}
	for _, a := range cfg.Sources {
		r.src = append(r.src, newRawSockaddr(netip.AddrPortFrom(a, 0)))
	}
	return r, nil
}

// newLoops shares the clients out over one loop per CPU the process may use.
func (r *run) newLoops() ([]*loop, error) {
	var loops []*loop
	for i := range r.loops {
		clients := r.cfg.Clients / r.loops
		if i < r.cfg.Clients%r.loops {
			clients++
		}
		l, err := newLoop(r, i, clients)
		if err != nil {
			for _, l := range loops {
				l.close()
			}
			return nil, err
		}
		loops = append(loops, l)
	}
	return loops, nil
}

// now is the time since the start, in ns (monotonic).
func (r *run) now() int64 { return int64(time.Since(r.start)) }

func (r *run) open() bool { return r.interval > 0 }

// scheduled is when request seq of an open loop is due (ns since the
// start): its burst's start. A request's latency is measured from it, so
// a backlog of late sends shows in the latencies instead of lowering the
// offered rate.
func (r *run) scheduled(seq int64) int64 {
	return int64(float64(seq/r.burst*r.burst) * r.interval)
}

// dueBefore is how many requests of an open loop come due before t (ns
// since the start): whole bursts.
func (r *run) dueBefore(t int64) int64 {
	bursts := int64(math.Ceil(float64(t) / (float64(r.burst) * r.interval)))
	return bursts * r.burst
}

// take claims the next request of a closed loop.
func (r *run) take() (int64, bool) {
	seq := r.issued.Add(1) - 1
	return seq, r.cfg.Requests == 0 || seq < r.cfg.Requests
}

func (r *run) progress(loops []*loop, done <-chan struct{}) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var lastOK, lastErr int64
	for i := 1; ; i++ {
		select {
		case <-done:
			return
		case <-t.C:
			var ok, errs int64
			for _, l := range loops {
				ok += l.rec.live.ok.Load()
				errs += l.rec.live.errs.Load()
			}
			r.cfg.Progress(Second{At: i, Requests: ok - lastOK, Errors: errs - lastErr})
			lastOK, lastErr = ok, errs
		}
	}
}

// Classify says why a request failed, as a Result counts it.
func Classify(err error) ErrorKind { return classify(err) }

func classify(err error) ErrorKind {
	switch {
	case errors.Is(err, errBadStatus):
		return ErrBadStatus
	case errors.Is(err, errShortBody):
		return ErrShortBody
	case errors.Is(err, syscall.ECONNREFUSED):
		return ErrRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return ErrReset
	case errors.Is(err, syscall.EMFILE):
		return ErrEMFILE
	case errors.Is(err, syscall.ENFILE):
		return ErrENFILE
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return ErrEADDRNOTAVAIL
	case errors.Is(err, syscall.ENOBUFS):
		return ErrENOBUFS
	case errors.Is(err, syscall.ENOMEM):
		return ErrENOMEM
	case errors.Is(err, errTimeout), errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded), errors.Is(err, syscall.ETIMEDOUT),
		errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return ErrTimeout
	}
	return ErrOther
}

func (r *run) merge(loops []*loop, end time.Time) *Result {
	res := &Result{
		Loop: "closed", Connection: "new", Clients: r.cfg.Clients, Rate: r.cfg.Rate, Burst: r.cfg.Burst,
		Errors: map[ErrorKind]int64{}, Servers: map[string]int64{}, hist: newHistogram(),
	}
	if r.open() {
		res.Loop = "open"
	}
	if r.cfg.KeepAlive {
		res.Connection = "keepalive"
	}
	if r.cfg.LatencyFrom == FromWrite {
		res.LatencyFrom = FromWrite
	}
	for _, l := range loops {
		rec := &l.rec
		res.hist.Merge(rec.hist)
		res.Successes += rec.ok
		res.Connections += rec.fresh
		res.Unfinished += rec.unfinished
		res.Unsent += rec.unsent
		res.Latency.OverRange += rec.overRange
		for k, v := range rec.errors {
			res.Errors[k] += v
		}
		for id, n := range rec.servers {
			if n > 0 {
				res.Servers[l.names.names[id]] += n
			}
		}
	}
	res.Requests = res.Successes + res.ErrorCount()
	res.Elapsed = end.Sub(r.start).Seconds()
	if res.Elapsed > 0 {
		res.RequestsPerSec = float64(res.Successes) / res.Elapsed
		res.ConnectionsPerSec = float64(res.Connections) / res.Elapsed
	}
	over := res.Latency.OverRange
	res.Latency = summarise(res.hist)
	res.Latency.OverRange = over
	if !r.open() && r.cfg.Clients > 0 && res.Successes >= int64(r.cfg.Clients) {
		// wrk's interval: the run's time over each connection's requests.
		corrected := CorrectLatency(res.hist, int64(res.Elapsed*1e6)/(res.Successes/int64(r.cfg.Clients)))
		res.LatencyCorrected = &corrected
	}
	for i, s := range r.series.secs {
		sec := Second{At: i, Requests: s.ok, Errors: s.errs, MaxMs: float64(s.maxUs) / 1000}
		if s.ok > 0 {
			sec.MeanMs = float64(s.sumUs) / float64(s.ok) / 1000
		}
		res.Series = append(res.Series, sec)
	}
	return res
}

// machineTicks reads the whole machine's busy and total CPU time from
// /proc/stat (the same in every namespace); zeros if it cannot.
func machineTicks() (busy, total uint64) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(data), "\n")
	fields := strings.Fields(line)
	for i, f := range fields[1:] {
		v, _ := strconv.ParseUint(f, 10, 64)
		if i >= 7 { // guest and guest_nice are already in user and nice
			break
		}
		total += v
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return busy, total
}

func cpuUse(a, b unix.Rusage, wall time.Duration) CPU {
	sec := func(t unix.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	c := CPU{UserSeconds: sec(b.Utime) - sec(a.Utime), SystemSeconds: sec(b.Stime) - sec(a.Stime)}
	if wall > 0 {
		c.Cores = (c.UserSeconds + c.SystemSeconds) / wall.Seconds()
	}
	return c
}
