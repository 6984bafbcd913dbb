package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/lvslab/lvslab/topology"
)

// Target is one address the load is sent to.
type Target struct {
	Name string         `json:"name"`
	Addr netip.AddrPort `json:"addr"`
}

// DialFunc opens a connection from laddr (if valid) to raddr.
type DialFunc func(ctx context.Context, network string, laddr netip.Addr, raddr netip.AddrPort) (net.Conn, error)

// Config is one load run.
type Config struct {
	// Targets are used round-robin, request by request.
	Targets []Target
	// Sources are the client addresses dials rotate over.
	Sources []netip.Addr
	// Dial opens connections; use the client node's Dial.
	Dial DialFunc
	// Clients is the number of concurrent clients (closed loop) or the
	// most requests in flight (open loop).
	Clients int
	// Rate, when > 0, makes the run open-loop at that many requests/s.
	Rate float64
	// Duration and Requests bound the run; it stops at whichever comes first.
	Duration time.Duration
	Requests int64
	// KeepAlive reuses one connection per client instead of one per request.
	KeepAlive bool
	// Timeout bounds each request, connect included.
	Timeout time.Duration
	// Path is the request path ("/" by default).
	Path string
	// Progress, if set, is called once a second with the last second.
	Progress func(Second)
	// Observe, if set, is called with every request that was measured:
	// when it was due, when it ended and why it failed (nil if it did not).
	// It is called from the clients' goroutines, concurrently.
	Observe func(scheduled, done time.Time, err error)
}

// Limits that keep every run bounded.
const (
	MaxDuration = 24 * time.Hour
	MaxClients  = 10000
)

func (c *Config) validate() error {
	var errs []error
	if len(c.Targets) == 0 {
		errs = append(errs, errors.New("no targets: give at least one address to load"))
	}
	if c.Dial == nil {
		errs = append(errs, errors.New("no dialer: set Config.Dial (a client node's Dial)"))
	}
	if c.Clients < 1 || c.Clients > MaxClients {
		errs = append(errs, fmt.Errorf("clients %d: use 1 to %d", c.Clients, MaxClients))
	}
	if c.Duration <= 0 || c.Duration > MaxDuration {
		errs = append(errs, fmt.Errorf("duration %s: give a positive duration up to %s (every load is bounded)", c.Duration, MaxDuration))
	}
	if c.Requests < 0 {
		errs = append(errs, fmt.Errorf("requests %d: must be 0 (no count limit) or positive", c.Requests))
	}
	if c.Rate < 0 {
		errs = append(errs, fmt.Errorf("rate %g: must be 0 (closed loop) or positive", c.Rate))
	}
	if c.Timeout == 0 {
		c.Timeout = 5 * time.Second
	}
	if c.Path == "" {
		c.Path = "/"
	}
	return errors.Join(errs...)
}

// ForLab is load from a lab's client to one of its targets ("direct",
// "vip" or a real server's name), over IPv4 or IPv6: the targets, the
// client's source addresses and the client node's dialer. Set Clients and
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
	return Config{Targets: targets, Sources: SourcesFor(lab.Spec, v6), Dial: client.Dial}, nil
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
