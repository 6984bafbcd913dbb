//go:build linux

package ipvsadm

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/lvslab/lvslab/harness"
)

// Table is a rules file as the IPVS table it builds: its -A/-E/-D and
// -a/-e/-d lines applied in order.
type Table struct {
	// File is the name errors and findings give.
	File string
	// Services in the order their -A lines came.
	Services []*Service
	// Flush is set by a -C line: the director's table is cleared before
	// the services load (the services before the last -C are gone).
	Flush bool
	// Timeouts are from --set lines; nil without one.
	Timeouts *Timeouts
	// Findings are legal lines or options that a restore does not load or
	// that lvslab cannot check, each saying why.
	Findings []Finding

	index map[ServiceKey]*Service
}

// Service is a virtual service and its real servers.
type Service struct {
	harness.Service
	// Line is where the service was last set (-A or -E).
	Line int
	// PE is the persistence engine (--pe), "" for none.
	PE    string
	Reals []*Real

	index map[realKey]*Real
}

// Real is a real server of a service.
type Real struct {
	harness.Real
	// Line is where the real server was last set (-a or -e).
	Line int
	// UpperThreshold and LowerThreshold bound its active connections
	// (-x, -y); 0 is no bound.
	UpperThreshold, LowerThreshold uint32
	// Tunnel is how a tunnelled (-i) real server is reached; zero for the
	// other methods.
	Tunnel Tunnel
}

// Tunnel is the encapsulation of a tunnelled real server (--tun-type,
// --tun-port, --tun-nocsum|--tun-csum|--tun-remcsum).
type Tunnel struct {
	// Type is TunnelIPIP (the default), TunnelGUE or TunnelGRE.
	Type string
	// Port is GUE's UDP destination port.
	Port uint16
	// Checksum is "", ChecksumOn or ChecksumRemote (GUE and GRE only).
	Checksum string
}

// Tunnel types and checksum modes, by ipvsadm's names.
const (
	TunnelIPIP     = "ipip"
	TunnelGUE      = "gue"
	TunnelGRE      = "gre"
	ChecksumOn     = "csum"
	ChecksumRemote = "remcsum"
)

// Timeouts are IPVS's connection timeouts as --set gives them; zero
// leaves the kernel's value.
type Timeouts struct {
	TCP, TCPFin, UDP time.Duration
	Line             int
}

// Finding is one legal line or option lvslab does not load or cannot
// check.
type Finding struct {
	Line int
	Text string
}

func (f Finding) String() string { return fmt.Sprintf("line %d: %s", f.Line, f.Text) }

// ServiceKey is what tells services apart, as the kernel does: protocol,
// address and port, or family and firewall mark.
type ServiceKey struct {
	Protocol string
	Addr     netip.Addr
	Port     uint16
	FWMark   uint32
}

func (k ServiceKey) String() string {
	if k.FWMark != 0 {
		if k.Addr.Is6() {
			return fmt.Sprintf("FWM %d IPv6", k.FWMark)
		}
		return fmt.Sprintf("FWM %d", k.FWMark)
	}
	return harness.Service{Protocol: k.Protocol, Addr: k.Addr, Port: k.Port}.String()
}

// Key is the service's identity. A firewall-mark service's address is
// its family's unspecified address.
func (s *Service) Key() ServiceKey { return keyOf(s.Service) }

func keyOf(s harness.Service) ServiceKey {
	if s.FWMark != 0 {
		a := netip.IPv4Unspecified()
		if s.Addr.Is6() {
			a = netip.IPv6Unspecified()
		}
		return ServiceKey{Addr: a, FWMark: s.FWMark}
	}
	return ServiceKey{Protocol: s.Protocol, Addr: s.Addr, Port: s.Port}
}

type realKey struct {
	Addr netip.Addr
	Port uint16
}

func (r *Real) key() realKey { return realKey{r.Addr, r.Port} }

// Service returns the service with this key, or nil.
func (t *Table) Service(k ServiceKey) *Service { return t.index[k] }

// Real returns the service's real server at this address and port, or nil.
func (s *Service) Real(a netip.Addr, port uint16) *Real { return s.index[realKey{a, port}] }

// Counts are the number of services and real servers (destinations).
func (t *Table) Counts() (services, reals int) {
	for _, s := range t.Services {
		reals += len(s.Reals)
	}
	return len(t.Services), reals
}

// NewTable is an empty table whose errors and findings name file.
func NewTable(file string) *Table { return &Table{File: file, index: map[ServiceKey]*Service{}} }

// Add appends a service; its key must be new.
func (t *Table) Add(s *Service) error {
	k := s.Key()
	if old := t.index[k]; old != nil {
		return fmt.Errorf("service %s is already added at line %d", k, old.Line)
	}
	if s.index == nil {
		s.index = map[realKey]*Real{}
		for _, r := range s.Reals {
			s.index[r.key()] = r
		}
	}
	t.index[k] = s
	t.Services = append(t.Services, s)
	return nil
}

func (t *Table) remove(s *Service) {
	delete(t.index, s.Key())
	t.Services = slices.DeleteFunc(t.Services, func(x *Service) bool { return x == s })
}

func (t *Table) clear() {
	t.Services, t.index = nil, map[ServiceKey]*Service{}
}

// AddReal appends a real server; its address and port must be new.
func (s *Service) AddReal(r *Real) error {
	if s.index == nil {
		s.index = map[realKey]*Real{}
	}
	if old := s.index[r.key()]; old != nil {
		return fmt.Errorf("real server %s of %s is already added at line %d", hostPort(r.Addr, r.Port), s.Key(), old.Line)
	}
	s.index[r.key()] = r
	s.Reals = append(s.Reals, r)
	return nil
}

func (s *Service) removeReal(r *Real) {
	delete(s.index, r.key())
	s.Reals = slices.DeleteFunc(s.Reals, func(x *Real) bool { return x == r })
}

func hostPort(a netip.Addr, port uint16) string { return netip.AddrPortFrom(a, port).String() }

// Inventory is what a lab must have to serve a table.
type Inventory struct {
	// VIPs4 and VIPs6 are the services' addresses by family, sorted
	// (firewall-mark services have none).
	VIPs4, VIPs6 []netip.Addr
	// RealServers are the real servers' addresses, sorted.
	RealServers []RealServer
	// Methods are the forwarding methods in use, sorted.
	Methods []harness.ForwardMethod
}

// RealServer is one real-server address and what it must answer.
type RealServer struct {
	Addr netip.Addr
	// Listen are the protocols and ports it must answer on, sorted. Port
	// 0 is every port (a port-0 persistent service); protocol "" is any
	// (a firewall-mark service).
	Listen []Endpoint
	// VIPs are the addresses it must accept as its own: the VIPs it
	// serves by direct routing or tunnelling, sorted.
	VIPs []netip.Addr
	// Methods are how the director reaches it, sorted.
	Methods []harness.ForwardMethod
}

// Endpoint is a protocol and port.
type Endpoint struct {
	Protocol string
	Port     uint16
}

// Inventory lists the table's VIPs, real-server addresses with what each
// listens on, and methods.
func (t *Table) Inventory() Inventory {
	var inv Inventory
	vips := map[netip.Addr]bool{}
	methods := map[harness.ForwardMethod]bool{}
	type acc struct {
		listen  map[Endpoint]bool
		vips    map[netip.Addr]bool
		methods map[harness.ForwardMethod]bool
	}
	reals := map[netip.Addr]*acc{}
	for _, s := range t.Services {
		if s.FWMark == 0 {
			vips[s.Addr] = true
		}
		for _, r := range s.Reals {
			a := reals[r.Addr]
			if a == nil {
				a = &acc{map[Endpoint]bool{}, map[netip.Addr]bool{}, map[harness.ForwardMethod]bool{}}
				reals[r.Addr] = a
			}
			a.listen[Endpoint{s.Protocol, r.Port}] = true
			a.methods[r.Method] = true
			methods[r.Method] = true
			if r.Method != harness.MethodNAT && s.FWMark == 0 {
				a.vips[s.Addr] = true
			}
		}
	}
	for a := range vips {
		if a.Is4() {
			inv.VIPs4 = append(inv.VIPs4, a)
		} else {
			inv.VIPs6 = append(inv.VIPs6, a)
		}
	}
	slices.SortFunc(inv.VIPs4, netip.Addr.Compare)
	slices.SortFunc(inv.VIPs6, netip.Addr.Compare)
	inv.Methods = sortedKeys(methods, func(a, b harness.ForwardMethod) int { return cmp.Compare(string(a), string(b)) })
	for addr, a := range reals {
		inv.RealServers = append(inv.RealServers, RealServer{
			Addr: addr,
			Listen: sortedKeys(a.listen, func(x, y Endpoint) int {
				if c := cmp.Compare(x.Protocol, y.Protocol); c != 0 {
					return c
				}
				return int(x.Port) - int(y.Port)
			}),
			VIPs:    sortedKeys(a.vips, netip.Addr.Compare),
			Methods: sortedKeys(a.methods, func(a, b harness.ForwardMethod) int { return cmp.Compare(string(a), string(b)) }),
		})
	}
	slices.SortFunc(inv.RealServers, func(a, b RealServer) int { return a.Addr.Compare(b.Addr) })
	return inv
}

func sortedKeys[K comparable](m map[K]bool, cmp func(a, b K) int) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.SortFunc(out, cmp)
	return out
}
