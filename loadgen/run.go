package loadgen

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"golang.org/x/sys/unix"
)

// Run sends the load and returns what it measured. Cancelling ctx
// (Ctrl-C) ends the run early; the result is then marked interrupted and
// requests cut short by the cancellation are not counted.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	r := &run{cfg: cfg, parent: ctx, start: time.Now()}
	var ru0 unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru0)
	busy0, total0 := machineTicks()
	stop := r.start.Add(cfg.Duration)
	var cancel context.CancelFunc
	r.ctx, cancel = context.WithDeadline(ctx, stop)
	defer cancel()

	workers := make([]*worker, cfg.Clients)
	var wg sync.WaitGroup
	var schedule chan time.Time
	if cfg.Rate > 0 {
		schedule = make(chan time.Time, cfg.Clients)
		go r.pace(schedule)
	}
	for i := range workers {
		w := &worker{run: r, hist: newHistogram(), servers: map[string]int64{}, errors: map[ErrorKind]int64{}, conns: map[int]*conn{}}
		workers[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer w.closeAll()
			if schedule != nil {
				for at := range schedule {
					w.request(at)
				}
				return
			}
			for r.take() {
				w.request(time.Now())
			}
		}()
	}
	abort := context.AfterFunc(ctx, func() {
		for _, w := range workers {
			w.abort()
		}
	})
	defer abort()
	progressDone := make(chan struct{})
	if cfg.Progress != nil {
		go r.progress(progressDone)
	}
	wg.Wait()
	close(progressDone)
	end := time.Now()
	var ru1 unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru1)
	res := r.merge(workers, end)
	res.CPU = cpuUse(ru0, ru1, end.Sub(r.start))
	if busy1, total1 := machineTicks(); total1 > total0 {
		res.CPU.MachineBusy = float64(busy1-busy0) / float64(total1-total0)
	}
	res.Interrupted = ctx.Err() != nil
	return res, nil
}

type run struct {
	cfg    Config
	parent context.Context
	ctx    context.Context // ends at the deadline or on cancel
	start  time.Time

	issued   atomic.Int64
	target   atomic.Uint64
	source   atomic.Uint64
	liveOK   atomic.Int64
	liveErrs atomic.Int64
}

// take claims the right to send one more request.
func (r *run) take() bool {
	if r.ctx.Err() != nil {
		return false
	}
	return r.cfg.Requests == 0 || r.issued.Add(1) <= r.cfg.Requests
}

// pace emits scheduled send times at the configured rate. A request's
// latency is measured from its scheduled time, so a backlog of late sends
// shows in the latencies instead of lowering the offered rate.
func (r *run) pace(schedule chan<- time.Time) {
	defer close(schedule)
	interval := time.Duration(float64(time.Second) / r.cfg.Rate)
	for i := int64(0); ; i++ {
		at := r.start.Add(time.Duration(i) * interval)
		if d := time.Until(at); d > 0 {
			select {
			case <-time.After(d):
			case <-r.ctx.Done():
				return
			}
		}
		if !r.take() {
			return
		}
		select {
		case schedule <- at:
		case <-r.ctx.Done():
			return
		}
	}
}

func (r *run) progress(done <-chan struct{}) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var lastOK, lastErr int64
	for i := 1; ; i++ {
		select {
		case <-done:
			return
		case <-t.C:
			ok, errs := r.liveOK.Load(), r.liveErrs.Load()
			r.cfg.Progress(Second{At: i, Requests: ok - lastOK, Errors: errs - lastErr})
			lastOK, lastErr = ok, errs
		}
	}
}

type conn struct {
	net.Conn
	br *bufio.Reader
}

// readers recycles response buffers: one per connection would otherwise
// be most of what the load generator allocates in one-connection-per-request mode.
var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

func (c *conn) close() {
	c.Conn.Close()
	c.br.Reset(nil)
	readers.Put(c.br)
}

type worker struct {
	run     *run
	hist    *hdrhistogram.Histogram
	servers map[string]int64
	errors  map[ErrorKind]int64
	series  []secondAcc
	ok      int64
	newConn int64
	conns   map[int]*conn // by target index; one connection per target in keep-alive mode

	mu     sync.Mutex
	active net.Conn
}

type secondAcc struct {
	ok, errs int64
	sumUs    int64
	maxUs    int64
}

func (w *worker) request(scheduled time.Time) {
	cfg := &w.run.cfg
	ti := int(w.run.target.Add(1)-1) % len(cfg.Targets)
	target := cfg.Targets[ti]
	server, newConn, err := w.exchange(ti, target)
	done := time.Now()
	if w.run.parent.Err() != nil {
		return // cut short by the caller: not a measurement
	}
	if cfg.Observe != nil {
		cfg.Observe(scheduled, done, err)
	}
	sec := int(done.Sub(w.run.start) / time.Second)
	for len(w.series) <= sec {
		w.series = append(w.series, secondAcc{})
	}
	acc := &w.series[sec]
	if err != nil {
		w.errors[classify(err)]++
		acc.errs++
		w.run.liveErrs.Add(1)
		return
	}
	us := max(1, done.Sub(scheduled).Microseconds())
	w.hist.RecordValue(us)
	w.ok++
	if newConn {
		w.newConn++
	}
	w.servers[server]++
	acc.ok++
	acc.sumUs += us
	acc.maxUs = max(acc.maxUs, us)
	w.run.liveOK.Add(1)
}

// exchange sends one request and reads the whole response.
func (w *worker) exchange(ti int, target Target) (server string, fresh bool, err error) {
	cfg := &w.run.cfg
	deadline := time.Now().Add(cfg.Timeout)
	c := w.conns[ti]
	if c == nil {
		ctx, cancel := context.WithDeadline(w.run.parent, deadline)
		var src = w.source()
		nc, err := cfg.Dial(ctx, "tcp", src, target.Addr)
		cancel()
		if err != nil {
			return "", false, err
		}
		br := readers.Get().(*bufio.Reader)
		br.Reset(nc)
		c = &conn{Conn: nc, br: br}
		fresh = true
		w.setActive(nc)
	}
	keep := false
	defer func() {
		if keep {
			w.conns[ti] = c
			return
		}
		delete(w.conns, ti)
		w.setActive(nil)
		c.close()
	}()
	c.SetDeadline(deadline)
	req := "GET " + cfg.Path + " HTTP/1.1\r\nHost: " + target.Addr.String() + "\r\nUser-Agent: lvslab\r\n"
	if !cfg.KeepAlive {
		req += "Connection: close\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		return "", fresh, err
	}
	status, server, closeConn, err := readResponse(c.br)
	if err != nil {
		return "", fresh, err
	}
	if status != 200 {
		return "", fresh, fmt.Errorf("%w: %d", errBadStatus, status)
	}
	keep = cfg.KeepAlive && !closeConn
	return server, fresh, nil
}

func (w *worker) source() (a netip.Addr) {
	src := w.run.cfg.Sources
	if len(src) == 0 {
		return a
	}
	return src[int(w.run.source.Add(1)-1)%len(src)]
}

func (w *worker) setActive(c net.Conn) {
	w.mu.Lock()
	w.active = c
	w.mu.Unlock()
}

// abort unblocks a request in flight when the run is cancelled.
func (w *worker) abort() {
	w.mu.Lock()
	if w.active != nil {
		w.active.SetDeadline(time.Now())
	}
	w.mu.Unlock()
}

func (w *worker) closeAll() {
	for _, c := range w.conns {
		c.close()
	}
}

var (
	errShortBody = errors.New("short body")
	errBadStatus = errors.New("bad status")
)

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
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded), errors.Is(err, syscall.ETIMEDOUT),
		errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return ErrTimeout
	}
	return ErrOther
}

func (r *run) merge(workers []*worker, end time.Time) *Result {
	res := &Result{
		Loop: "closed", Connection: "new", Clients: r.cfg.Clients, Rate: r.cfg.Rate,
		Errors: map[ErrorKind]int64{}, Servers: map[string]int64{}, hist: newHistogram(),
	}
	if r.cfg.Rate > 0 {
		res.Loop = "open"
	}
	if r.cfg.KeepAlive {
		res.Connection = "keepalive"
	}
	var series []secondAcc
	for _, w := range workers {
		res.hist.Merge(w.hist)
		res.Successes += w.ok
		res.Connections += w.newConn
		for k, v := range w.errors {
			res.Errors[k] += v
		}
		for k, v := range w.servers {
			res.Servers[k] += v
		}
		for i, s := range w.series {
			for len(series) <= i {
				series = append(series, secondAcc{})
			}
			series[i].ok += s.ok
			series[i].errs += s.errs
			series[i].sumUs += s.sumUs
			series[i].maxUs = max(series[i].maxUs, s.maxUs)
		}
	}
	res.Requests = res.Successes + res.ErrorCount()
	res.Elapsed = end.Sub(r.start).Seconds()
	if res.Elapsed > 0 {
		res.RequestsPerSec = float64(res.Successes) / res.Elapsed
		res.ConnectionsPerSec = float64(res.Connections) / res.Elapsed
	}
	res.Latency = summarise(res.hist)
	for i, s := range series {
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
