//go:build linux

package loadgen

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// ErrorKind is why a request failed.
type ErrorKind string

const (
	ErrRefused   ErrorKind = "refused"
	ErrReset     ErrorKind = "reset"
	ErrTimeout   ErrorKind = "timeout"
	ErrBadStatus ErrorKind = "bad_status"
	ErrShortBody ErrorKind = "short_body"
	ErrOther     ErrorKind = "other"
	// A socket, bind or connect that this host refused at once, named by
	// its errno: out of descriptors (the process's, the system's), of
	// source ports, or of socket buffers. The client that met one backs
	// off before it tries again (see the loop's backOff).
	ErrEMFILE        ErrorKind = "emfile"
	ErrENFILE        ErrorKind = "enfile"
	ErrEADDRNOTAVAIL ErrorKind = "eaddrnotavail"
	ErrENOBUFS       ErrorKind = "enobufs"
	ErrENOMEM        ErrorKind = "enomem"
)

// Second is one second of a run.
type Second struct {
	At       int     `json:"at"` // seconds since the start
	Requests int64   `json:"requests"`
	Errors   int64   `json:"errors"`
	MeanMs   float64 `json:"mean_ms"`
	MaxMs    float64 `json:"max_ms"`
}

// Latency summarises the latency histogram, in milliseconds.
type Latency struct {
	Min  float64 `json:"min_ms"`
	Mean float64 `json:"mean_ms"`
	P50  float64 `json:"p50_ms"`
	P90  float64 `json:"p90_ms"`
	P99  float64 `json:"p99_ms"`
	P999 float64 `json:"p99_9_ms"`
	Max  float64 `json:"max_ms"`
	// OverRange counts latencies beyond the histogram's range, recorded
	// at its top (none in a run within MaxDuration).
	OverRange int64 `json:"over_range,omitempty"`
}

// CPU is what the load generator's own process used during the run.
type CPU struct {
	UserSeconds   float64 `json:"user_s"`
	SystemSeconds float64 `json:"system_s"`
	// Cores is CPU time over wall time: 1.0 is one core kept busy.
	Cores float64 `json:"cores"`
	// MachineBusy is the fraction of all the machine's CPU time that was
	// busy during the run (every process, the kernel's forwarding included).
	MachineBusy float64 `json:"machine_busy"`
}

// Result is the outcome of one run.
type Result struct {
	Loop        string              `json:"loop"`       // closed or open
	Connection  string              `json:"connection"` // new or keepalive
	Clients     int                 `json:"clients"`
	Rate        float64             `json:"rate,omitempty"`
	Burst       int                 `json:"burst,omitempty"`
	LatencyFrom Clock               `json:"latency_from,omitempty"` // write, or absent: before the connect (closed loop), at the scheduled time (open)
	Elapsed     float64             `json:"elapsed_s"`
	Requests    int64               `json:"requests"`
	Successes   int64               `json:"successes"`
	Connections int64               `json:"connections"`
	Errors      map[ErrorKind]int64 `json:"errors"`
	// Unfinished counts requests cut short by the end of the run (its
	// duration, or a cancel): neither successes nor errors.
	Unfinished int64 `json:"unfinished"`
	// Unsent counts the open loop's requests that were due before the end
	// but never sent, every client being busy: the offered rate was not
	// held (raise Clients, the most requests in flight).
	Unsent int64 `json:"unsent,omitempty"`
	// RequestsPerSec counts successful requests; ConnectionsPerSec new
	// connections that carried at least one successful request.
	RequestsPerSec    float64 `json:"requests_per_s"`
	ConnectionsPerSec float64 `json:"connections_per_s"`
	Latency           Latency `json:"latency"`
	// LatencyCorrected (closed loop) is Latency as wrk reports its own:
	// corrected for coordinated omission, each request slower than a
	// connection's mean cycle also standing for those it held up
	// (CorrectLatency). Compare it, not Latency, with wrk's --latency.
	LatencyCorrected *Latency         `json:"latency_corrected,omitempty"`
	Series           []Second         `json:"series"`
	Servers          map[string]int64 `json:"servers"`
	CPU              CPU              `json:"cpu"`
	Interrupted      bool             `json:"interrupted,omitempty"`

	hist *hdrhistogram.Histogram
}

// ErrorCount is the number of failed requests.
func (r *Result) ErrorCount() int64 {
	var n int64
	for _, v := range r.Errors {
		n += v
	}
	return n
}

// Histogram returns the latency histogram (microseconds).
func (r *Result) Histogram() *hdrhistogram.Histogram { return r.hist }

func summarise(h *hdrhistogram.Histogram) Latency {
	ms := func(us int64) float64 { return float64(us) / 1000 }
	if h.TotalCount() == 0 {
		return Latency{}
	}
	return Latency{
		Min:  ms(h.Min()),
		Mean: h.Mean() / 1000,
		P50:  ms(h.ValueAtQuantile(50)),
		P90:  ms(h.ValueAtQuantile(90)),
		P99:  ms(h.ValueAtQuantile(99)),
		P999: ms(h.ValueAtQuantile(99.9)),
		Max:  ms(h.Max()),
	}
}

// CorrectLatency summarises h (µs) corrected for coordinated omission as
// wrk corrects its own before printing (stats_correct in wg/wrk's
// src/stats.c): a value v stands also for v-interval, v-2·interval, … down
// to just above interval, the requests a closed-loop client would have sent
// meanwhile. hdrhistogram-go's RecordCorrectedValue works one sample at a
// time and stops at interval itself; this works bar by bar, with wrk's bound.
func CorrectLatency(h *hdrhistogram.Histogram, interval int64) Latency {
	if interval <= 0 {
		return summarise(h)
	}
	c := hdrhistogram.New(h.LowestTrackableValue(), h.HighestTrackableValue(), int(h.SignificantFigures()))
	for _, b := range h.Distribution() {
		if b.Count == 0 {
			continue
		}
		c.RecordValues(b.From, b.Count)
		for m := b.From - interval; m > interval; m -= interval {
			c.RecordValues(m, b.Count)
		}
	}
	return summarise(c)
}

// WriteJSON writes the result as indented JSON.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes the result for people.
func (r *Result) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	loop := fmt.Sprintf("%s loop, %d clients", r.Loop, r.Clients)
	if r.Loop == "open" {
		loop = fmt.Sprintf("open loop, %.0f req/s offered, up to %d in flight", r.Rate, r.Clients)
		if r.Burst > 1 {
			loop += fmt.Sprintf(", in bursts of %d", r.Burst)
		}
	}
	if r.LatencyFrom == FromWrite {
		loop += ", latency from each request's first write"
	}
	fmt.Fprintf(tw, "load\t%s, %s connections, %.2fs%s\n", loop, r.Connection, r.Elapsed, map[bool]string{true: " (interrupted)"}[r.Interrupted])
	fmt.Fprintf(tw, "requests\t%d (%d ok, %d failed)", r.Requests, r.Successes, r.ErrorCount())
	if r.Unfinished > 0 {
		fmt.Fprintf(tw, "; %d cut short by the end of the run, not counted", r.Unfinished)
	}
	if r.Unsent > 0 {
		fmt.Fprintf(tw, "; %d due but never sent, all %d clients busy: the offered rate was not held", r.Unsent, r.Clients)
	}
	fmt.Fprintln(tw)
	fmt.Fprintf(tw, "throughput\t%.1f requests/s, %.1f new connections/s\n", r.RequestsPerSec, r.ConnectionsPerSec)
	l := r.Latency
	fmt.Fprintf(tw, "latency\tp50 %.3fms  p90 %.3fms  p99 %.3fms  p99.9 %.3fms  max %.3fms  (mean %.3fms)\n", l.P50, l.P90, l.P99, l.P999, l.Max, l.Mean)
	if l.OverRange > 0 {
		fmt.Fprintf(tw, "\t%d latencies beyond the histogram's range, counted at its top\n", l.OverRange)
	}
	if n := r.ErrorCount(); n > 0 {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(r.Errors)) {
			parts = append(parts, fmt.Sprintf("%s %d", k, r.Errors[k]))
		}
		fmt.Fprintf(tw, "errors\t%s\n", strings.Join(parts, ", "))
	}
	if len(r.Servers) > 0 {
		var parts []string
		for _, k := range sortedServers(r.Servers) {
			parts = append(parts, fmt.Sprintf("%s %d", k, r.Servers[k]))
		}
		fmt.Fprintf(tw, "per server\t%s\n", strings.Join(parts, ", "))
	}
	fmt.Fprintf(tw, "load generator CPU\t%.2f cores (user %.2fs, system %.2fs); machine %.0f%% busy\n", r.CPU.Cores, r.CPU.UserSeconds, r.CPU.SystemSeconds, 100*r.CPU.MachineBusy)
	return tw.Flush()
}

// sortedServers orders rs2 before rs10.
func sortedServers(m map[string]int64) []string {
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(a, b string) int {
		if len(a) != len(b) {
			return len(a) - len(b)
		}
		return strings.Compare(a, b)
	})
	return keys
}
