//go:build linux

package loadgen

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Limits are what the host lets a run hold open at once.
type Limits struct {
	// Files is the process's descriptors: ulimit -n (RLIMIT_NOFILE's soft
	// limit).
	Files uint64
	// Ports is how many source ports the client's namespace hands out
	// (net.ipv4.ip_local_port_range, IPv6 too).
	Ports int
}

// filesAside is what the process holds besides its connections: standard
// streams, namespace handles, one epoll instance per loop, the Go
// runtime's own.
const filesAside = 64

// ClientsFor is the most clients lim carries at once: a connection takes a
// descriptor (one per client, or per client and target with keep-alive)
// and, towards one target, a source port of one source address (sockets
// pick their port at connect, so every source address and target has the
// whole range; counted as if all went to one target).
func (c *Config) ClientsFor(lim Limits) (byFiles, byPorts int) {
	files := uint64(0)
	if lim.Files > filesAside {
		files = (lim.Files - filesAside) / c.connsPerClient()
	}
	return int(min(files, uint64(MaxClients)+1)), lim.Ports * max(1, len(c.Sources))
}

func (c *Config) connsPerClient() uint64 {
	if c.KeepAlive {
		return uint64(max(1, len(c.Targets)))
	}
	return 1
}

// CheckLimits says which of lim cannot carry c.Clients and what to raise,
// or nil. A run beyond them still runs: a client the host refuses a
// socket or a port counts an emfile or eaddrnotavail error and backs off.
func (c *Config) CheckLimits(lim Limits) error {
	byFiles, byPorts := c.ClientsFor(lim)
	var errs []error
	if c.Clients > byFiles {
		errs = append(errs, fmt.Errorf("%d clients need more descriptors than ulimit -n %d allows (%d clients): raise it (ulimit -n %d) or give fewer clients",
			c.Clients, lim.Files, byFiles, filesAside+uint64(c.Clients)*c.connsPerClient()))
	}
	if c.Clients > byPorts {
		errs = append(errs, fmt.Errorf("%d clients need more source ports than the client's %d (net.ipv4.ip_local_port_range) over %d source address(es) allow (%d clients): widen the range or give fewer clients",
			c.Clients, lim.Ports, max(1, len(c.Sources)), byPorts))
	}
	return errors.Join(errs...)
}

// CheckHostLimits is CheckLimits against the limits of this process and
// of the namespace c.Client makes its sockets in: what lvslab load warns
// of before it starts.
func (c *Config) CheckHostLimits() error {
	sysctl := func(key string) (string, error) {
		data, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(key, ".", "/"))
		return string(data), err
	}
	if n, ok := c.Client.(interface{ Sysctl(string) (string, error) }); ok {
		sysctl = n.Sysctl
	}
	lim, err := ReadLimits(sysctl)
	if err != nil {
		return err
	}
	return c.CheckLimits(lim)
}

// ReadLimits reads this process's descriptor limit and, through sysctl
// (a client node's Sysctl), the ports of the client's namespace.
func ReadLimits(sysctl func(key string) (string, error)) (Limits, error) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return Limits{}, fmt.Errorf("read ulimit -n: %w", err)
	}
	v, err := sysctl("net.ipv4.ip_local_port_range")
	if err != nil {
		return Limits{}, fmt.Errorf("read the client's source ports: %w", err)
	}
	ports, err := portsIn(v)
	if err != nil {
		return Limits{}, err
	}
	return Limits{Files: rl.Cur, Ports: ports}, nil
}

// portsIn counts the ports of an ip_local_port_range value ("32768	60999").
func portsIn(v string) (int, error) {
	f := strings.Fields(v)
	if len(f) != 2 {
		return 0, fmt.Errorf("net.ipv4.ip_local_port_range %q: want two ports", v)
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || hi < lo {
		return 0, fmt.Errorf("net.ipv4.ip_local_port_range %q: want two ports, low then high", v)
	}
	return hi - lo + 1, nil
}
