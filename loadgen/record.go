//go:build linux

package loadgen

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// recorder is what one loop measured. Recording a request takes no lock
// and allocates nothing; loops add their seconds to the run's one series
// once a second, and their histograms are merged at the end.
type recorder struct {
	hist       *hdrhistogram.Histogram
	overRange  int64
	ok         int64
	fresh      int64
	unfinished int64
	unsent     int64
	errors     map[ErrorKind]int64
	servers    []int64 // by the loop's serverNames id
	sec        int64   // the second cur is about
	cur        secondAcc
	series     *series
	// live is read once a second for the progress line.
	live struct {
		ok, errs atomic.Int64
		_        [48]byte // its own cache line: loops on other CPUs add theirs
	}
}

type secondAcc struct {
	ok, errs int64
	sumUs    int64
	maxUs    int64
}

func (r *recorder) init(s *series) {
	r.hist, r.errors, r.series = newHistogram(), map[ErrorKind]int64{}, s
}

// newHistogram covers 1 µs to the longest run at 3 significant digits
// (230 kB): no latency of a run can fall outside it.
func newHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(1, int64(MaxDuration/time.Microsecond), 3)
}

// record counts one request that ended at now (ns since the start),
// scheduled at scheduled; err says why it failed.
func (r *recorder) record(now, scheduled int64, fresh bool, server int32, err error, names *serverNames) {
	if sec := now / int64(time.Second); sec != r.sec {
		r.flush()
		r.sec = sec
	}
	if err != nil {
		r.errors[classify(err)]++
		r.cur.errs++
		r.live.errs.Add(1)
		return
	}
	us := max(1, (now-scheduled)/int64(time.Microsecond))
	r.recordLatency(us)
	r.ok++
	if fresh {
		r.fresh++
	}
	if server == noServer {
		server = names.id(nil) // counted under "", as a response without the header
	}
	for int(server) >= len(r.servers) {
		r.servers = append(r.servers, 0)
	}
	r.servers[server]++
	r.cur.ok++
	r.cur.sumUs += us
	r.cur.maxUs = max(r.cur.maxUs, us)
	r.live.ok.Add(1)
}

// recordLatency records us; a value beyond the histogram's range is
// recorded at its top and counted, never dropped.
func (r *recorder) recordLatency(us int64) {
	if top := r.hist.HighestTrackableValue(); us > top {
		r.overRange++
		us = top
	}
	r.hist.RecordValue(us)
}

// flush adds the current second to the run's series.
func (r *recorder) flush() {
	if r.cur != (secondAcc{}) {
		r.series.add(int(r.sec), r.cur)
		r.cur = secondAcc{}
	}
}

// series is the run's one per-second record, shared by its loops: 32
// bytes a second, 2.8 MB for the longest run.
type series struct {
	mu   sync.Mutex
	secs []secondAcc
}

func (s *series) add(sec int, a secondAcc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.secs) <= sec {
		s.secs = append(s.secs, secondAcc{})
	}
	t := &s.secs[sec]
	t.ok += a.ok
	t.errs += a.errs
	t.sumUs += a.sumUs
	t.maxUs = max(t.maxUs, a.maxUs)
}
