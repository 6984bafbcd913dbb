//go:build linux

package harness

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/moby/ipvs"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/lvslab/lvslab/internal/proc"
	"github.com/lvslab/lvslab/topology"
)

// Service is an IPVS virtual service: an address and port (or a firewall
// mark) and how connections to it are scheduled.
type Service struct {
	// Protocol is "tcp" (the default) or "udp".
	Protocol string
	Addr     netip.Addr
	Port     uint16
	// FWMark, when set, makes this a firewall-mark service: Addr only
	// gives its family and Port is ignored.
	FWMark uint32
	// Scheduler is any IPVS scheduler name (rr, wrr, lc, wlc, sh, mh, …).
	Scheduler string
	// Persistence > 0 keeps a client on one real server across connections
	// for that long after its last one; PersistenceBits groups clients by
	// netmask (32 or 128 when zero).
	Persistence     time.Duration
	PersistenceBits int
	// Flags are IPVS's raw service flags (one-packet 0x4, sh-fallback 0x8,
	// sh-port 0x10); persistence is set from Persistence.
	Flags uint32
}

// Real is a real server behind a service.
type Real struct {
	Addr   netip.Addr
	Port   uint16
	Weight int
	Method ForwardMethod
}

// ForwardMethod is how IPVS hands a connection to a real server. It is
// what a lab's Mode becomes on the director: only nat, dr and tun have one.
type ForwardMethod string

// The forwarding methods, by ipvsadm's names Masq, Route and Tunnel.
const (
	MethodNAT ForwardMethod = "nat"
	MethodDR  ForwardMethod = "dr"
	MethodTUN ForwardMethod = "tun"
)

// MethodOf is the forwarding method of a lab mode.
func MethodOf(m topology.Mode) (ForwardMethod, error) {
	if !m.Balanced() {
		return "", fmt.Errorf("mode %s has no IPVS director: use nat, dr or tun", m)
	}
	return ForwardMethod(m), nil
}

// IPVS service flags.
const (
	FlagPersistent = 0x1
	FlagHashed     = 0x2
	FlagOnePacket  = 0x4
)

var methodFlags = map[ForwardMethod]uint32{
	MethodNAT: ipvs.ConnectionFlagMasq,
	MethodDR:  ipvs.ConnectionFlagDirectRoute,
	MethodTUN: ipvs.ConnectionFlagTunnel,
}

// CheckIPVS says whether this kernel has IPVS, loading the module if it
// can, and if not, what to do. It is the one probe lvslab has: the CLI,
// the benchmark and the suites all ask it.
func CheckIPVS() error {
	if _, err := os.Stat(ipvsProc); err == nil {
		return nil
	}
	// modprobe is absent or fails on a kernel built without modules; only
	// the file decides.
	exec.Command("modprobe", "-q", "ip_vs").Run()
	if _, err := os.Stat(ipvsProc); err != nil {
		return fmt.Errorf("this kernel (%s) has no IPVS (%s is missing and modprobe ip_vs failed): use a kernel with ip_vs, or run inside lvslab vm", proc.KernelRelease(), ipvsProc)
	}
	return nil
}

const ipvsProc = "/proc/net/ip_vs"

// Director configures kernel IPVS in a lab's director namespace through a
// netlink handle opened there.
type Director struct {
	Node *topology.Node
	// Method, VIP and Sysctls are what StartDirector set up: the lab's
	// forwarding method, the services on the VIP and the IPVS sysctls.
	Method  ForwardMethod
	VIP     []Service
	Sysctls map[string]string

	port uint16
	mu   sync.Mutex // the handle's netlink socket takes one request at a time
	h    *ipvs.Handle
	// genlSock is this package's own generic netlink socket in the
	// director's namespace, for what moby/ipvs has no API for (syncd.go).
	genlSock   *nl.SocketHandle
	genlFamily uint16
}

// OpenDirector opens IPVS in the lab's director (the first of a pair).
func OpenDirector(lab *topology.Lab) (*Director, error) {
	n := lab.Director()
	if n == nil {
		return nil, fmt.Errorf("lab %s has no director node", lab.Spec.Name)
	}
	return OpenDirectorAt(n)
}

// OpenDirectorAt opens IPVS in one director node.
func OpenDirectorAt(n *topology.Node) (*Director, error) {
	if err := CheckIPVS(); err != nil {
		return nil, err
	}
	h, err := ipvs.New(n.NsPath())
	if err != nil {
		return nil, fmt.Errorf("open IPVS in %s: %w", n.Namespace, err)
	}
	return &Director{Node: n, h: h}, nil
}

// Close releases the netlink handles; the IPVS table stays with the namespace.
func (d *Director) Close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.h != nil {
		d.h.Close()
		d.h = nil
	}
	if d.genlSock != nil {
		d.genlSock.Close()
		d.genlSock = nil
	}
}

func (s Service) ipvs() *ipvs.Service {
	out := &ipvs.Service{SchedName: s.Scheduler, Flags: s.Flags, FWMark: s.FWMark}
	if out.SchedName == "" {
		out.SchedName = "rr"
	}
	out.AddressFamily = unix.AF_INET
	bits := 32
	if s.Addr.Is6() && !s.Addr.Is4In6() {
		out.AddressFamily, bits = unix.AF_INET6, 128
	}
	if s.PersistenceBits > 0 {
		bits = s.PersistenceBits
	}
	if out.AddressFamily == unix.AF_INET {
		out.Netmask = netmaskAttr(uint32(0xffffffff) << (32 - bits))
	} else {
		out.Netmask = uint32(bits)
	}
	if s.FWMark == 0 {
		out.Address = s.Addr.AsSlice()
		out.Port = s.Port
		out.Protocol = unix.IPPROTO_TCP
		if s.Protocol == "udp" {
			out.Protocol = unix.IPPROTO_UDP
		}
	}
	if s.Persistence > 0 {
		out.Flags |= FlagPersistent
		out.Timeout = uint32(s.Persistence / time.Second)
	}
	return out
}

func (r Real) ipvs(family uint16) (*ipvs.Destination, error) {
	flags, ok := methodFlags[r.Method]
	if !ok {
		return nil, fmt.Errorf("forwarding method %q: use nat, dr or tun", r.Method)
	}
	return &ipvs.Destination{Address: r.Addr.AsSlice(), Port: r.Port, Weight: r.Weight,
		ConnectionFlags: flags, AddressFamily: family}, nil
}

func (s Service) String() string {
	if s.FWMark != 0 {
		return fmt.Sprintf("FWM %d", s.FWMark)
	}
	p := strings.ToUpper(s.Protocol)
	if p == "" {
		p = "TCP"
	}
	return p + " " + netip.AddrPortFrom(s.Addr, s.Port).String()
}

// AddService creates a virtual service.
func (d *Director) AddService(s Service) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.h.NewService(s.ipvs()); err != nil {
		return fmt.Errorf("add service %s (scheduler %s): %w", s, s.ipvs().SchedName, err)
	}
	return nil
}

// UpdateService changes a service's scheduler, persistence or flags.
func (d *Director) UpdateService(s Service) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.h.UpdateService(s.ipvs()); err != nil {
		return fmt.Errorf("update service %s: %w", s, err)
	}
	return nil
}

// DelService removes a service and its real servers.
func (d *Director) DelService(s Service) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.h.DelService(s.ipvs()); err != nil {
		return fmt.Errorf("delete service %s: %w", s, err)
	}
	return nil
}

// AddReal adds a real server to a service.
func (d *Director) AddReal(s Service, r Real) error {
	return d.real(s, r, "add", func(svc *ipvs.Service, dst *ipvs.Destination) error { return d.h.NewDestination(svc, dst) })
}

// UpdateReal changes a real server's weight or forwarding method.
func (d *Director) UpdateReal(s Service, r Real) error {
	return d.real(s, r, "update", func(svc *ipvs.Service, dst *ipvs.Destination) error { return d.h.UpdateDestination(svc, dst) })
}

// DelReal removes a real server from a service.
func (d *Director) DelReal(s Service, r Real) error {
	return d.real(s, r, "delete", func(svc *ipvs.Service, dst *ipvs.Destination) error { return d.h.DelDestination(svc, dst) })
}

func (d *Director) real(s Service, r Real, verb string, op func(*ipvs.Service, *ipvs.Destination) error) error {
	svc := s.ipvs()
	dst, err := r.ipvs(svc.AddressFamily)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := op(svc, dst); err != nil {
		return fmt.Errorf("%s real server %s on %s: %w", verb, netip.AddrPortFrom(r.Addr, r.Port), s, err)
	}
	return nil
}

// Stats are IPVS counters. The kernel keeps them 32-bit for connections and
// packets: diff samples with Sub, which allows for wrap-around.
type Stats struct {
	Connections uint32 `json:"connections"`
	PacketsIn   uint32 `json:"packets_in"`
	PacketsOut  uint32 `json:"packets_out"`
	BytesIn     uint64 `json:"bytes_in"`
	BytesOut    uint64 `json:"bytes_out"`
}

// Sub returns the counts between an earlier sample and s.
func (s Stats) Sub(earlier Stats) Stats {
	return Stats{Connections: s.Connections - earlier.Connections, PacketsIn: s.PacketsIn - earlier.PacketsIn,
		PacketsOut: s.PacketsOut - earlier.PacketsOut, BytesIn: s.BytesIn - earlier.BytesIn, BytesOut: s.BytesOut - earlier.BytesOut}
}

// ServiceState is a service as the kernel reports it.
type ServiceState struct {
	Service
	Persistent bool        `json:"persistent"`
	Stats      Stats       `json:"stats"`
	Reals      []RealState `json:"reals"`
}

// RealState is a real server as the kernel reports it.
type RealState struct {
	Real
	Active   int   `json:"active_connections"`
	Inactive int   `json:"inactive_connections"`
	Stats    Stats `json:"stats"`
}

// Services reads the IPVS table, sorted as ipvsadm lists it. The kernel
// folds its per-CPU counters into these statistics every 2 seconds.
func (d *Director) Services() ([]ServiceState, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	svcs, err := d.h.GetServices()
	if err != nil {
		return nil, fmt.Errorf("read IPVS services in %s: %w", d.Node.Namespace, err)
	}
	var out []ServiceState
	for _, s := range svcs {
		st, err := d.stateOf(s)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	// ipvsadm's order: mark, family, protocol, address, port.
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.FWMark != b.FWMark {
			return a.FWMark < b.FWMark
		}
		if a.Addr.Is4() != b.Addr.Is4() {
			return a.Addr.Is4()
		}
		if a.Protocol != b.Protocol {
			return a.Protocol < b.Protocol
		}
		return lessAddrPort(a.Addr, a.Port, b.Addr, b.Port)
	})
	return out, nil
}

// State reads one service and its real servers, as Services would: what
// a check of one service reads without a dump of a large table.
func (d *Director) State(s Service) (ServiceState, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	svc, err := d.h.GetService(s.ipvs())
	if err != nil {
		return ServiceState{}, fmt.Errorf("read IPVS service %s in %s: %w", s, d.Node.Namespace, err)
	}
	return d.stateOf(svc)
}

// stateOf reads a service's real servers; the caller holds d.mu.
func (d *Director) stateOf(s *ipvs.Service) (ServiceState, error) {
	st := ServiceState{Service: fromIPVS(s), Persistent: s.Flags&FlagPersistent != 0, Stats: Stats(statsOf(s.Stats))}
	dsts, err := d.h.GetDestinations(s)
	if err != nil {
		return ServiceState{}, fmt.Errorf("read real servers of %s: %w", st.Service, err)
	}
	for _, dst := range dsts {
		a, _ := netip.AddrFromSlice(dst.Address)
		method := MethodNAT
		for m, f := range methodFlags {
			if dst.ConnectionFlags&ipvs.ConnectionFlagFwdMask == f {
				method = m
			}
		}
		st.Reals = append(st.Reals, RealState{Real: Real{Addr: a.Unmap(), Port: dst.Port, Weight: dst.Weight, Method: method},
			Active: dst.ActiveConnections, Inactive: dst.InactiveConnections, Stats: Stats(statsOf(ipvs.SvcStats(dst.Stats)))})
	}
	sort.Slice(st.Reals, func(i, j int) bool {
		return lessAddrPort(st.Reals[i].Addr, st.Reals[i].Port, st.Reals[j].Addr, st.Reals[j].Port)
	})
	return st, nil
}

func statsOf(s ipvs.SvcStats) Stats {
	return Stats{Connections: s.Connections, PacketsIn: s.PacketsIn, PacketsOut: s.PacketsOut, BytesIn: s.BytesIn, BytesOut: s.BytesOut}
}

func lessAddrPort(a netip.Addr, ap uint16, b netip.Addr, bp uint16) bool {
	if c := a.Compare(b); c != 0 {
		return c < 0
	}
	return ap < bp
}

func fromIPVS(s *ipvs.Service) Service {
	a, _ := netip.AddrFromSlice(s.Address)
	out := Service{Addr: a.Unmap(), Port: s.Port, FWMark: s.FWMark, Scheduler: s.SchedName, Flags: s.Flags &^ (FlagPersistent | FlagHashed)}
	if s.FWMark != 0 && s.AddressFamily == unix.AF_INET6 && !out.Addr.IsValid() {
		out.Addr = netip.IPv6Unspecified()
	}
	switch s.Protocol {
	case unix.IPPROTO_UDP:
		out.Protocol = "udp"
	case unix.IPPROTO_TCP:
		out.Protocol = "tcp"
	}
	if s.Flags&FlagPersistent != 0 {
		out.Persistence = time.Duration(s.Timeout) * time.Second
		if s.AddressFamily == unix.AF_INET {
			out.PersistenceBits = maskBits(netmaskAttr(s.Netmask))
		} else {
			out.PersistenceBits = int(s.Netmask)
		}
	}
	return out
}

// netmaskAttr converts an IPv4 netmask to and from the form moby/ipvs
// passes through: the kernel's attribute is big-endian, moby/ipvs writes
// and reads the uint32 in host order, so the bytes must be swapped here.
func netmaskAttr(m uint32) uint32 {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], m)
	return binary.NativeEndian.Uint32(b[:])
}

func maskBits(m uint32) int {
	n := 0
	for m&0x80000000 != 0 {
		n++
		m <<= 1
	}
	return n
}

// SetTimeouts sets IPVS's TCP, TCP FIN and UDP connection timeouts.
func (d *Director) SetTimeouts(tcp, tcpFin, udp time.Duration) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.h.SetConfig(&ipvs.Config{TimeoutTCP: tcp, TimeoutTCPFin: tcpFin, TimeoutUDP: udp}); err != nil {
		return fmt.Errorf("set IPVS timeouts: %w", err)
	}
	return nil
}

// IPVS sysctls a director may set (Documentation/networking/ipvs-sysctl.rst).
var ipvsSysctls = map[string]bool{"conntrack": true, "conn_reuse_mode": true, "expire_nodest_conn": true,
	"expire_quiescent_template": true, "sloppy_tcp": true, "sloppy_sctp": true, "snat_reroute": true,
	"schedule_icmp": true, "ignore_tunneled": true, "pmtu_disc": true, "nat_icmp_send": true,
	"sync_threshold": true, "sync_refresh_period": true, "sync_retries": true, "sync_persist_mode": true}

// CheckIPVSSysctl says whether a director may set the net.ipv4.vs.*
// sysctl of that short name.
func CheckIPVSSysctl(name string) error {
	if !ipvsSysctls[name] {
		return fmt.Errorf("IPVS sysctl %q is not one lvslab sets (see ipvs-sysctl.rst)", name)
	}
	return nil
}

// SetSysctl sets one net.ipv4.vs.* sysctl in the director, by its short name.
func (d *Director) SetSysctl(name, value string) error {
	if err := CheckIPVSSysctl(name); err != nil {
		return err
	}
	return d.Node.SetSysctl("net.ipv4.vs."+name, value)
}
