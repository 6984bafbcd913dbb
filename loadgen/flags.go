//go:build linux

package loadgen

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"
)

// AsFlags names each setting CheckSettings refused by lvslab load's flag
// for it, all on one line.
func AsFlags(err error) error {
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	var parts []string
	for _, e := range errs {
		var se *SettingError
		if errors.As(e, &se) {
			parts = append(parts, "--"+se.Error())
		} else {
			parts = append(parts, e.Error())
		}
	}
	return errors.New(strings.Join(parts, "; "))
}

// ProgressPrinter reports a run of duration d on w, prefixed with name
// off a terminal: on a terminal (live), one line rewritten every second;
// elsewhere (a CI log), a line every 10 seconds.
func ProgressPrinter(w io.Writer, name string, live bool, d time.Duration) func(Second) {
	return func(s Second) {
		if live {
			fmt.Fprintf(w, "\r%3ds  %8d req/s  %6d errors ", s.At, s.Requests, s.Errors)
			return
		}
		if s.At%10 == 0 {
			done := time.Duration(s.At) * time.Second
			fmt.Fprintf(w, "%s: %s of %s (%.0f%%), %d req/s and %d errors in the last second, about %s left\n",
				name, done, d, 100*done.Seconds()/d.Seconds(), s.Requests, s.Errors, max(d-done, 0))
		}
	}
}

// Flags are lvslab load's settings of a run: Register declares them,
// Settings checks them and names each refused setting by its flag.
type Flags struct {
	// Target is direct, vip or a real server (rs3); IPv6 loads its IPv6
	// addresses.
	Target string
	IPv6   bool

	settings    Config
	latencyFrom string
}

// Register declares the flags on fs.
func (f *Flags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.Target, "target", "direct", "direct (every real server, round-robin), vip, or one real server (rs3)")
	fs.IntVar(&f.settings.Clients, "clients", 16, fmt.Sprintf("concurrent clients (closed loop), or most requests in flight (open loop); 1 to %d.\n"+
		"Memory grows with clients, never with the duration or the number of requests: at most %d bytes per client\n"+
		"(per client and target with --keepalive), 8 KiB per request in flight, %d kB per CPU used and %d bytes per\n"+
		"second of the run; %d MiB for %d clients on 8 targets with --keepalive for %s on this machine's %d CPUs",
		MaxClients, ConnBytes, (HistogramBytes+LoopBytes)>>10, SecondBytes,
		MemoryBound(MaxClients, 8, true, MaxDuration, runtime.NumCPU())>>20, MaxClients,
		MaxDuration, runtime.NumCPU()))
	fs.DurationVar(&f.settings.Duration, "duration", 10*time.Second, fmt.Sprintf("how long to load, up to %s", MaxDuration))
	fs.Int64Var(&f.settings.Requests, "requests", 0, "stop after this many requests (0: only the duration bounds the run)")
	fs.Float64Var(&f.settings.Rate, "rate", 0, fmt.Sprintf("open loop at this many requests/s, %g to %g (0: closed loop)", float64(MinRate), float64(MaxRate)))
	fs.IntVar(&f.settings.Burst, "burst", 0, "with --rate: requests come due this many at a time, the same mean rate (0 or 1: evenly spaced; at most --clients)")
	fs.StringVar(&f.latencyFrom, "latency-from", "connect", "closed loop: start a request's latency before its connection opens (connect, as WebBench)\n"+
		"or at its first write, sent once the new connection is writable (write, as wrk)")
	fs.BoolVar(&f.settings.KeepAlive, "keepalive", false, "reuse connections (default: one new TCP connection per request, as WebBench)")
	fs.BoolVar(&f.IPv6, "ipv6", false, "use IPv6 addresses")
	fs.DurationVar(&f.settings.Timeout, "timeout", 5*time.Second, fmt.Sprintf("per-request timeout, connect included, %s to %s; no request outlives --duration", MinTimeout, MaxTimeout))
	fs.StringVar(&f.settings.Path, "path", "/", "request path (e.g. /?size=65536)")
	fs.IntVar(&f.settings.Procs, "procs", 0, fmt.Sprintf("CPUs the load generator may use at once, one event loop each (GOMAXPROCS; 0: all %d).\n", runtime.NumCPU())+
		"On a small machine, 1 leaves more to the lab")
}

// Settings returns the run's settings, checked, without its targets and
// sources, which the lab decides.
func (f *Flags) Settings() (Config, error) {
	c := f.settings
	c.LatencyFrom = Clock(f.latencyFrom)
	if c.Timeout == 0 {
		return c, fmt.Errorf("--timeout 0s: use %s to %s", MinTimeout, MaxTimeout)
	}
	if err := c.CheckSettings(); err != nil {
		return c, AsFlags(err)
	}
	return c, nil
}
