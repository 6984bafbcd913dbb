//go:build linux

package ipvsadm

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/lvslab/lvslab/harness"
)

// Diff lists how got differs from want, in want's order and whatever the
// order of either: services or real servers only one of them has, and
// every setting that differs, each with want's line. It compares the
// services only, not Flush, Timeouts or Findings; nil when equal.
func Diff(want, got *Table) []string {
	var out []string
	seen := map[ServiceKey]bool{}
	for _, w := range want.Services {
		k := w.Key()
		seen[k] = true
		g := got.Service(k)
		if g == nil {
			out = append(out, fmt.Sprintf("line %d: service %s is missing", w.Line, k))
			continue
		}
		for _, d := range w.differences(g) {
			out = append(out, fmt.Sprintf("line %d: service %s: %s", w.Line, k, d))
		}
		realSeen := map[realKey]bool{}
		for _, wr := range w.Reals {
			realSeen[wr.key()] = true
			gr := g.index[wr.key()]
			if gr == nil {
				out = append(out, fmt.Sprintf("line %d: real server %s of %s is missing", wr.Line, hostPort(wr.Addr, wr.Port), k))
				continue
			}
			for _, d := range wr.differences(gr) {
				out = append(out, fmt.Sprintf("line %d: real server %s of %s: %s", wr.Line, hostPort(wr.Addr, wr.Port), k, d))
			}
		}
		for _, gr := range g.Reals {
			if !realSeen[gr.key()] {
				out = append(out, fmt.Sprintf("line %d: service %s has an extra real server %s", w.Line, k, hostPort(gr.Addr, gr.Port)))
			}
		}
	}
	for _, g := range got.Services {
		if !seen[g.Key()] {
			out = append(out, fmt.Sprintf("an extra service %s", g.Key()))
		}
	}
	return out
}

// differences collects "what want, got got" for each setting that differs.
type differences []string

func (d *differences) add(what string, want, got any) {
	if want != got {
		*d = append(*d, fmt.Sprintf("%s %v, got %v", what, want, got))
	}
}

func (s *Service) differences(o *Service) differences {
	var d differences
	d.add("scheduler", s.Scheduler, o.Scheduler)
	d.add("persistence", s.Persistence, o.Persistence)
	if s.Persistence > 0 {
		d.add("persistence netmask length", s.bits(), o.bits())
	}
	d.add("flags", fmt.Sprintf("%#x", s.Flags), fmt.Sprintf("%#x", o.Flags))
	d.add("persistence engine", s.PE, o.PE)
	return d
}

// bits is the persistence netmask's length, 0 meaning the family's own.
func (s *Service) bits() int {
	if s.PersistenceBits == 0 {
		return familyBits(s.Addr)
	}
	return s.PersistenceBits
}

func (r *Real) differences(o *Real) differences {
	var d differences
	d.add("weight", r.Weight, o.Weight)
	d.add("method", r.Method, o.Method)
	d.add("upper threshold", r.UpperThreshold, o.UpperThreshold)
	d.add("lower threshold", r.LowerThreshold, o.LowerThreshold)
	d.add("tunnel", r.Tunnel, o.Tunnel)
	return d
}

// DiffServices compares a table with the services a director reports
// (harness.Director.Services), on what those carry: everything but
// persistence engines, thresholds and tunnel types.
func DiffServices(want *Table, got []harness.ServiceState) []string {
	return Diff(want.withoutExtras(), FromServices(want.File, got))
}

// FromServices is the table a director reports (harness.Director.Services).
func FromServices(file string, states []harness.ServiceState) *Table {
	t := NewTable(file)
	for _, st := range states {
		s := &Service{Service: st.Service}
		if s.FWMark != 0 && !s.Addr.Is6() {
			s.Addr = netip.IPv4Unspecified() // the kernel gives a mark's service no address
		}
		if !st.Persistent {
			s.Persistence, s.PersistenceBits = 0, 0
		}
		for _, rs := range st.Reals {
			r := &Real{Real: rs.Real}
			if r.Method == harness.MethodTUN {
				r.Tunnel.Type = TunnelIPIP
			}
			s.AddReal(r)
		}
		t.Add(s)
	}
	return t
}

// withoutExtras is a copy with only what harness.ServiceState shows.
func (t *Table) withoutExtras() *Table {
	out := NewTable(t.File)
	for _, s := range t.Services {
		c := &Service{Service: s.Service, Line: s.Line}
		for _, r := range s.Reals {
			cr := &Real{Real: r.Real, Line: r.Line}
			if r.Method == harness.MethodTUN {
				cr.Tunnel.Type = TunnelIPIP
			}
			c.AddReal(cr)
		}
		out.Add(c)
	}
	return out
}

// Unchecked says why lvslab's checks cannot cover the service as the
// table has it: a firewall-mark service, SCTP, a persistence engine, a
// tunnel type the lab does not build. Empty when they can.
func (s *Service) Unchecked() []string {
	var out []string
	if s.FWMark != 0 {
		out = append(out, "a firewall-mark service: its marks come from firewall rules the table does not hold, so lvslab cannot send it traffic")
	}
	if s.Protocol == "sctp" {
		out = append(out, "SCTP: lvslab's real servers answer TCP (HTTP) and UDP only")
	}
	if s.PE != "" {
		out = append(out, fmt.Sprintf("persistence engine %s: lvslab's clients speak HTTP and UDP echo, not what %s reads", s.PE, s.PE))
	}
	var tunnels []string
	for _, r := range s.Reals {
		if t := r.Tunnel.Type; t != "" && t != TunnelIPIP && !slices.Contains(tunnels, t) {
			tunnels = append(tunnels, t)
			out = append(out, fmt.Sprintf("real servers tunnelled with %s: the lab builds ipip tunnels only", t))
		}
	}
	return out
}
