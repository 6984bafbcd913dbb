//go:build linux

package loadgen

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"time"

	"github.com/lvslab/lvslab/topology"
)

// Target is one address the load is sent to.
type Target struct {
	Name string         `json:"name"`
	Addr netip.AddrPort `json:"addr"`
}

// Sockets makes the client's sockets: a client node (*topology.Node makes
// them inside its namespace), or Here.
type Sockets interface {
	// Socket returns a non-blocking, close-on-exec socket that the
	// caller owns; TCP sockets have IP_BIND_ADDRESS_NO_PORT set.
	Socket(family, typ int) (int, error)
}

// Config is one load run.
type Config struct {
	// Targets are used round-robin, request by request.
	Targets []Target
	// Sources are the client addresses connections rotate over (none: the
	// kernel picks).
	Sources []netip.Addr
	// Client makes the sockets; use the client node.
	Client Sockets
	// Clients is the number of concurrent clients (closed loop) or the
	// most requests in flight (open loop).
	Clients int
	// Rate, when > 0, makes the run open-loop at that many requests/s.
	Rate float64
	// Burst (open loop) makes requests come due Burst at a time, every
	// Burst/Rate seconds: the same mean rate in groups sent back to back
	// (0 or 1: evenly spaced). At most Clients.
	Burst int
	// Duration and Requests bound the run; it stops at whichever comes
	// first. Requests still in flight at the end of Duration are cut
	// short and counted apart (Result.Unfinished).
	Duration time.Duration
	Requests int64
	// KeepAlive reuses one connection per client and target instead of
	// one per request.
	KeepAlive bool
	// LatencyFrom is where a closed-loop request's latency starts ("":
	// FromConnect). An open loop's starts at the request's scheduled time.
	LatencyFrom Clock
	// Timeout bounds each request, connect included (0: 5 s); no request
	// outlives Duration, whatever its timeout.
	Timeout time.Duration
	// Path is the request path ("/" by default).
	Path string
	// Procs is how many event loops the run uses, one per CPU, up to this
	// machine's CPUs (0: one per CPU the process may use, GOMAXPROCS).
	Procs int
	// Progress, if set, is called once a second with the last second.
	Progress func(Second)
	// Observe, if set, is called with every request that was measured:
	// when its latency started (see LatencyFrom), when it ended and why it
	// failed (nil if it did not).
	// It is called from the clients' goroutines, concurrently.
	Observe func(scheduled, done time.Time, err error)
}

// Clock is where a closed-loop request's latency starts.
type Clock string

const (
	// FromConnect starts it before the request's connection is opened, as
	// WebBench times a connection: with one connection per request the
	// handshake and the server's accept are part of it.
	FromConnect Clock = "connect"
	// FromWrite starts it at the request's first write, as wrk does: a new
	// connection's request goes out once epoll reports the connection
	// writable (a turn of the event loop after connect, one more event
	// per connection), not as soon as connect returns. What to compare
	// with wrk's latency.
	FromWrite Clock = "write"
)

// Limits that keep every run bounded and every setting meaningful.
const (
	MaxDuration = 24 * time.Hour
	MaxClients  = 10000
	// MinRate is one request every 100 s; MaxRate one every microsecond,
	// the finest schedule a run keeps.
	MinRate = 0.01
	MaxRate = 1e6
	// MinTimeout and MaxTimeout bound a request's timeout: below a
	// millisecond nothing answers in time, and a request that needs more
	// than 5 minutes is a stalled one.
	MinTimeout = time.Millisecond
	MaxTimeout = 5 * time.Minute
	// MaxPath bounds the request path.
	MaxPath = 2048

	defaultTimeout = 5 * time.Second
)

// SettingError is a setting out of its bounds: its name (as lvslab load's
// flag names it), the value given and what to give instead.
type SettingError struct {
	Setting, Value, Want string
}

func (e *SettingError) Error() string { return e.Setting + " " + e.Value + ": " + e.Want }

func badSetting(setting, value, want string, args ...any) error {
	return &SettingError{Setting: setting, Value: value, Want: fmt.Sprintf(want, args...)}
}

// CheckSettings says what is wrong with the run's settings (clients, rate,
// burst, duration, requests, latency-from, timeout, procs, path), all at once as
// SettingErrors, or nil: what Run checks before it sends anything, without
// needing a lab.
func (c *Config) CheckSettings() error {
	var errs []error
	if c.Clients < 1 || c.Clients > MaxClients {
		errs = append(errs, badSetting("clients", fmt.Sprint(c.Clients), "use 1 to %d", MaxClients))
	}
	if c.Duration <= 0 || c.Duration > MaxDuration {
		errs = append(errs, badSetting("duration", c.Duration.String(), "give a positive duration up to %s (every load is bounded)", MaxDuration))
	}
	if c.Requests < 0 {
		errs = append(errs, badSetting("requests", fmt.Sprint(c.Requests), "give 0 (no count limit) or a positive count"))
	}
	if c.Rate != 0 && !(c.Rate >= MinRate && c.Rate <= MaxRate) { // NaN fails both
		errs = append(errs, badSetting("rate", fmt.Sprint(c.Rate), "give 0 (closed loop) or %g to %g requests/s", float64(MinRate), float64(MaxRate)))
	}
	if c.Burst < 0 || c.Burst > max(1, c.Clients) {
		errs = append(errs, badSetting("burst", fmt.Sprint(c.Burst), "use 0 or 1 (evenly spaced) up to clients (%d), the most requests in flight", c.Clients))
	} else if c.Burst > 1 && c.Rate == 0 {
		errs = append(errs, badSetting("burst", fmt.Sprint(c.Burst), "bursts are an open loop's: give a rate too"))
	}
	switch c.LatencyFrom {
	case "", FromConnect:
	case FromWrite:
		if c.Rate != 0 {
			errs = append(errs, badSetting("latency-from", string(c.LatencyFrom), "an open loop's latency starts at each request's scheduled time: leave it out, or drop the rate"))
		}
	default:
		errs = append(errs, badSetting("latency-from", fmt.Sprintf("%q", c.LatencyFrom), "use %s or %s", FromConnect, FromWrite))
	}
	if c.Timeout != 0 && (c.Timeout < MinTimeout || c.Timeout > MaxTimeout) {
		errs = append(errs, badSetting("timeout", c.Timeout.String(), "use %s to %s", MinTimeout, MaxTimeout))
	}
	// A loop per CPU at most: more loops buy nothing, and GOMAXPROCS at
	// 100,000 exhausted the runtime's threads before the run began.
	if c.Procs < 0 || c.Procs > runtime.NumCPU() {
		errs = append(errs, badSetting("procs", fmt.Sprint(c.Procs), "use 0 (every CPU) to %d, this machine's CPUs", runtime.NumCPU()))
	}
	if c.Path != "" {
		if err := checkPath(c.Path); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// checkPath accepts an origin-form request target (RFC 9112 section 3.2.1)
// of visible ASCII, so that a path can neither break the request line nor
// add a header.
func checkPath(p string) error {
	if len(p) > MaxPath {
		return badSetting("path", fmt.Sprintf("of %d bytes", len(p)), "use at most %d", MaxPath)
	}
	if p[0] != '/' {
		return badSetting("path", fmt.Sprintf("%q", p), "start it with / (e.g. /?size=65536)")
	}
	for i := 0; i < len(p); i++ {
		if p[i] <= ' ' || p[i] >= 0x7f {
			return badSetting("path", fmt.Sprintf("%q", p), "byte %d is %q; use visible ASCII only (percent-encode the rest)", i, p[i])
		}
	}
	return nil
}

func (c *Config) validate() error {
	errs := []error{c.CheckSettings()}
	if len(c.Targets) == 0 {
		errs = append(errs, errors.New("no targets: give at least one address to load"))
	}
	for _, t := range c.Targets {
		if !t.Addr.IsValid() || t.Addr.Port() == 0 {
			errs = append(errs, fmt.Errorf("target %q has no address and port (%s)", t.Name, t.Addr))
		}
	}
	for _, a := range c.Sources {
		if !a.IsValid() {
			errs = append(errs, errors.New("a source address is empty: give valid client addresses or none"))
			break
		}
		if len(c.Targets) > 0 && a.Unmap().Is4() != c.Targets[0].Addr.Addr().Unmap().Is4() {
			errs = append(errs, fmt.Errorf("source %s and target %s are of different IP families: give sources of the targets' family", a, c.Targets[0].Addr))
			break
		}
	}
	if c.Client == nil {
		errs = append(errs, errors.New("no client: set Config.Client (a client node, or Here)"))
	}
	if c.Timeout == 0 {
		c.Timeout = defaultTimeout
	}
	if c.Path == "" {
		c.Path = "/"
	}
	return errors.Join(errs...)
}

// ForLab is load from a lab's client to one of its targets ("direct",
// "vip" or a real server's name), over IPv4 or IPv6: the targets, the
// client's source addresses and the client node that makes the sockets. Set Clients and
// Duration (and Requests, Rate, KeepAlive as wanted) before Run.
func ForLab(lab *topology.Lab, target string, v6 bool) (Config, error) {
	targets, err := TargetsFor(lab.Spec, target, v6)
	if err != nil {
		return Config{}, err
	}
	client := lab.Client()
	if client == nil {
		return Config{}, fmt.Errorf("lab %s has no client node", lab.Spec.Name)
	}
	return Config{Targets: targets, Sources: SourcesFor(lab.Spec, v6), Client: client}, nil
}

// TargetsFor resolves a target name against a lab: "direct" (every real
// server's own address, round-robin), a real server's name ("rs3") or
// "vip". v6 picks IPv6 addresses.
func TargetsFor(spec *topology.Spec, target string, v6 bool) ([]Target, error) {
	port := spec.VIP.Port
	family := "IPv4"
	if v6 {
		family = "IPv6"
	}
	addr := func(n topology.NodeSpec) (Target, error) {
		a := n.Addr(v6)
		if !a.IsValid() {
			return Target{}, fmt.Errorf("%s has no %s address in lab %s", n.Name, family, spec.Name)
		}
		return Target{Name: n.Name, Addr: netip.AddrPortFrom(a, port)}, nil
	}
	switch target {
	case "direct":
		var out []Target
		for _, rs := range spec.ByRole(topology.RoleRealServer) {
			t, err := addr(rs)
			if err != nil {
				return nil, err
			}
			out = append(out, t)
		}
		return out, nil
	case "vip":
		vip := spec.VIP.IPv4
		if v6 {
			vip = spec.VIP.IPv6
		}
		if !vip.IsValid() {
			return nil, fmt.Errorf("lab %s has no %s VIP", spec.Name, family)
		}
		return []Target{{Name: "vip", Addr: netip.AddrPortFrom(vip, port)}}, nil
	}
	if n, ok := spec.Node(target); ok && n.Role == topology.RoleRealServer {
		t, err := addr(n)
		return []Target{t}, err
	}
	return nil, fmt.Errorf("target %q is unknown: use direct, vip or a real server's name (rs1…rs%d)",
		target, len(spec.ByRole(topology.RoleRealServer)))
}

// SourcesFor returns the client's addresses of one family.
func SourcesFor(spec *topology.Spec, v6 bool) []netip.Addr {
	var out []netip.Addr
	for _, c := range spec.ByRole(topology.RoleClient) {
		for _, l := range c.Links {
			if v6 {
				out = append(out, l.IPv6...)
			} else {
				out = append(out, l.IPv4...)
			}
		}
	}
	return out
}

// What a run holds in memory, in bytes: these sizes are pinned by a test.
const (
	// ConnBytes is one client's connection state (one per target with
	// keep-alive).
	ConnBytes = 160
	// LineBytes is a header line split across reads, held only while its
	// response is read.
	LineBytes = maxHeader
	// HistogramBytes is one loop's latency histogram; LoopBytes the rest of
	// a loop (read buffer, events).
	HistogramBytes = 240 << 10
	LoopBytes      = 24 << 10
	// SecondBytes is one second of the run's series.
	SecondBytes = 32
)

// MemoryBound is the most a run holds in memory (sockets' kernel buffers
// aside): per client its connections' state and, for a request in flight
// whose header arrives in pieces, one line buffer; per loop (one per CPU
// the process may use) a histogram and buffers; and one series of a
// duration's seconds. It does not grow with the number of requests.
func MemoryBound(clients, targets int, keepAlive bool, d time.Duration, cpus int) int64 {
	conns := int64(clients)
	if keepAlive {
		conns *= int64(targets)
	}
	loops := int64(min(cpus, clients))
	return conns*ConnBytes + int64(clients)*LineBytes + loops*(HistogramBytes+LoopBytes) +
		(int64(d/time.Second)+2)*SecondBytes
}
