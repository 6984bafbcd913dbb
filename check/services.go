//go:build linux

package check

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/lvslab/lvslab/harness"
	"github.com/lvslab/lvslab/harness/ipvsadm"
	"github.com/lvslab/lvslab/harness/keepalived/conf"
)

// Service is a virtual service as the director's IPVS table should hold
// it, whichever input said so: what the checks probe.
type Service struct {
	// Key names it in results: "tcp 192.0.2.10:80", "fwmark 1".
	Key      string
	Protocol string // tcp, udp or sctp; "" for a firewall mark
	// Addrs are its addresses: one, or every address of a group's range
	// (a group becomes one IPVS service per address).
	Addrs       []netip.Addr
	Port        uint16
	FWMark      int
	Scheduler   string
	SchedFlags  []string
	Persistence time.Duration
	Reals       []RealRef
	Sorry       *RealRef
	Pos         Pos
	// Checked is false when no check can reach it, with Why.
	Checked bool
	Why     string
}

// RealRef is a real server of a service.
type RealRef struct {
	Addr   netip.Addr
	Port   uint16
	Weight int
	Method harness.ForwardMethod
	Pos    Pos
	// Probes are the other ports its checkers connect to on it
	// (connect_port): the application answers there too, as the
	// operator's must for its server to come up.
	Probes []ipvsadm.Endpoint
}

// checkerPorts lists the ports other than ref's own that checkers
// connect to on ref's address.
func checkerPorts(ref RealRef, checkers []conf.Checker) []ipvsadm.Endpoint {
	var out []ipvsadm.Endpoint
	for _, c := range checkers {
		p := probeOf(ref, c)
		e := ipvsadm.Endpoint{Protocol: p.Proto, Port: p.Addr.Port()}
		if (e.Protocol == "tcp" || e.Protocol == "udp") && p.Addr.Addr() == ref.Addr && e.Port != 0 && e.Port != ref.Port && !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out
}

// maxGroupAddrs bounds how many addresses of a virtual_server_group
// range the lab serves: each is an IPVS service keepalived creates.
const maxGroupAddrs = 256

// servicesOfConf are the virtual services keepalived makes of a file,
// with the defaults keepalived 2.2.7 applies where the file says nothing
// (check_data.c: protocol UDP, scheduler wlc, method NAT; a DR or TUN
// real server takes the service's port).
func servicesOfConf(f *conf.File) []Service {
	groups := map[string]conf.VirtualServerGroup{}
	for _, g := range f.Groups {
		groups[g.Name] = g
	}
	var out []Service
	for _, vs := range f.VirtualServers {
		s := Service{Protocol: strings.ToLower(orDefault(vs.Protocol, "UDP")), Scheduler: orDefault(vs.Scheduler, "wlc"),
			SchedFlags: vs.SchedFlags, Persistence: vs.Persistence.Value, Pos: posOf(vs.Pos), Checked: true, Key: serviceKey(vs)}
		method := methodOf(orDefault(vs.Method, "NAT"))
		switch {
		case vs.FWMark != nil:
			s.FWMark, s.Protocol = *vs.FWMark, ""
		case vs.Group != "":
			g, ok := groups[vs.Group]
			if !ok {
				continue // keepalived drops it; acceptance says so
			}
			for _, e := range g.Entries {
				if e.FWMark != nil {
					if len(s.Addrs) == 0 {
						// keepalived's IPVS service, which health reads
						s.FWMark, s.Protocol = *e.FWMark, ""
					}
					s.Checked, s.Why = false, "a group with firewall marks: how packets get the mark is not in keepalived.conf (give --capture with the marking rules)"
					continue
				}
				s.Port = uint16(e.Port)
				for a := e.First; a.IsValid() && a.Compare(e.Last) <= 0 && len(s.Addrs) < maxGroupAddrs; a = a.Next() {
					s.Addrs = append(s.Addrs, a)
				}
			}
		default:
			s.Addrs, s.Port = []netip.Addr{vs.Addr.Addr()}, vs.Addr.Port()
		}
		for _, r := range vs.Reals {
			m := method
			if r.Method.Set {
				m = methodOf(r.Method.Value)
			}
			port := r.Addr.Port()
			if m != harness.MethodNAT || port == 0 {
				port = s.Port
			}
			weight := 1
			if vs.Weight.Set {
				weight = vs.Weight.Value
			}
			if r.Weight.Set {
				weight = r.Weight.Value
			}
			ref := RealRef{Addr: r.Addr.Addr(), Port: port, Weight: weight, Method: m, Pos: posOf(r.Pos)}
			ref.Probes = checkerPorts(ref, r.Checkers)
			s.Reals = append(s.Reals, ref)
		}
		if ss := vs.SorryServer; ss != nil {
			m := method
			if ss.Method.Set {
				m = methodOf(ss.Method.Value)
			}
			port := ss.Addr.Port()
			if m != harness.MethodNAT || port == 0 {
				port = s.Port
			}
			s.Sorry = &RealRef{Addr: ss.Addr.Addr(), Port: port, Weight: 1, Method: m, Pos: posOf(ss.Pos)}
		}
		if s.FWMark != 0 {
			s.Checked, s.Why = false, "a firewall-mark service: how packets get the mark is not in keepalived.conf (give --capture with the marking rules)"
		}
		out = append(out, s)
	}
	return out
}

// servicesOfRules are the services of an ipvsadm rules file.
func servicesOfRules(t *ipvsadm.Table) []Service {
	var out []Service
	for _, rs := range t.Services {
		s := Service{Protocol: rs.Protocol, Port: rs.Port, FWMark: int(rs.FWMark), Scheduler: rs.Scheduler,
			Persistence: rs.Persistence, Pos: Pos{File: t.File, Line: rs.Line}, Checked: true}
		if rs.FWMark != 0 {
			s.Protocol, s.Key = "", fmt.Sprintf("fwmark %d", rs.FWMark)
		} else {
			s.Addrs = []netip.Addr{rs.Addr}
			s.Key = s.Protocol + " " + netip.AddrPortFrom(rs.Addr, rs.Port).String()
		}
		for _, r := range rs.Reals {
			s.Reals = append(s.Reals, RealRef{Addr: r.Addr, Port: r.Port, Weight: r.Weight, Method: r.Method,
				Pos: Pos{File: t.File, Line: r.Line}})
		}
		if why := rs.Unchecked(); len(why) > 0 {
			s.Checked, s.Why = false, strings.Join(why, "; ")
		}
		out = append(out, s)
	}
	return out
}

func orDefault(s conf.Setting[string], def string) string {
	if s.Set && s.Value != "" {
		return s.Value
	}
	return def
}

// methodOf reads keepalived's lb_kind (NAT, DR, TUN, with words after).
func methodOf(kind string) harness.ForwardMethod {
	switch strings.ToUpper(strings.Fields(kind + " x")[0]) {
	case "DR":
		return harness.MethodDR
	case "TUN":
		return harness.MethodTUN
	}
	return harness.MethodNAT
}

// serviceKey names a virtual_server as results do: "fwmark N",
// "group NAME", or its protocol and address ("tcp 192.0.2.10:80").
func serviceKey(vs conf.VirtualServer) string {
	switch {
	case vs.FWMark != nil:
		return fmt.Sprintf("fwmark %d", *vs.FWMark)
	case vs.Group != "":
		return "group " + vs.Group
	}
	return strings.ToLower(orDefault(vs.Protocol, "UDP")) + " " + vs.Addr.String()
}

func posOf(p conf.Pos) Pos { return Pos{File: p.File, Line: p.Line} }

// realUse is everything the services ask of one real-server address.
type realUse struct {
	Addr    netip.Addr
	Listen  []ipvsadm.Endpoint
	VIPs    []netip.Addr
	Methods []harness.ForwardMethod
	Where   []Pos
}

// realUses gathers the real servers (sorry servers included) of the
// services, sorted by address.
func realUses(services []Service) []*realUse {
	byAddr := map[netip.Addr]*realUse{}
	add := func(s Service, r RealRef) {
		u := byAddr[r.Addr]
		if u == nil {
			u = &realUse{Addr: r.Addr}
			byAddr[r.Addr] = u
		}
		proto := s.Protocol
		if proto == "" {
			proto = "tcp"
		}
		for _, e := range append([]ipvsadm.Endpoint{{Protocol: proto, Port: r.Port}}, r.Probes...) {
			if !slices.Contains(u.Listen, e) {
				u.Listen = append(u.Listen, e)
			}
		}
		if !slices.Contains(u.Methods, r.Method) {
			u.Methods = append(u.Methods, r.Method)
		}
		if r.Method != harness.MethodNAT {
			for _, a := range s.Addrs {
				if !slices.Contains(u.VIPs, a) {
					u.VIPs = append(u.VIPs, a)
				}
			}
		}
		u.Where = append(u.Where, r.Pos)
	}
	for _, s := range services {
		for _, r := range s.Reals {
			add(s, r)
		}
		if s.Sorry != nil {
			add(s, *s.Sorry)
		}
	}
	out := make([]*realUse, 0, len(byAddr))
	for _, u := range byAddr {
		out = append(out, u)
	}
	slices.SortFunc(out, func(a, b *realUse) int { return a.Addr.Compare(b.Addr) })
	return out
}
