//go:build linux

package harness

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/lvslab/lvslab/topology"
)

// DirectorOptions shape the director StartDirector puts in a lab.
type DirectorOptions struct {
	// Scheduler of the VIP's services: any IPVS scheduler (rr when empty).
	Scheduler string
}

// MethodSysctls are the net.ipv4.vs.* settings a director runs with in
// each forwarding method, decided here once for lvslab up, the benchmark
// and the suites (Documentation/networking/ipvs-sysctl.rst).
//
// A DR or TUN director never sees the replies, so it keeps a finished
// connection in FIN_WAIT. With the default conn_reuse_mode (1) a client
// that reuses that source port is sent to the same real server instead of
// being scheduled afresh, and a drained server keeps getting connections.
// Bit 2 (value 3 with the default bit 1) expires such entries: what an
// operator of these modes should set. NAT sees both directions and keeps
// the kernel's default, written out so that results record it.
func MethodSysctls(m ForwardMethod) map[string]string {
	switch m {
	case MethodDR, MethodTUN:
		return map[string]string{"conn_reuse_mode": "3"}
	}
	return map[string]string{"conn_reuse_mode": "1"}
}

// StartDirector makes a built lab's director serve the VIP in the lab's
// mode (nat, dr or tun): it wires the lab for the forwarding method, opens
// IPVS in the director's namespace, sets the method's sysctls, creates TCP
// and UDP services on the VIP's port (IPv4 and, if the lab has one, IPv6)
// with every real server at weight 1, and verifies the wiring, naming
// every cause of a miswired lab. The caller closes the Director; the
// table goes with the lab.
func StartDirector(lab *topology.Lab, opt DirectorOptions) (*Director, error) {
	method, err := MethodOf(lab.Spec.Mode)
	if err != nil {
		return nil, fmt.Errorf("lab %s: %w", lab.Spec.Name, err)
	}
	if opt.Scheduler == "" {
		opt.Scheduler = "rr"
	}
	if err := Wire(lab, lab.Spec.Mode); err != nil {
		return nil, err
	}
	d, err := OpenDirector(lab)
	if err != nil {
		return nil, err
	}
	d.Method = method
	if err := d.start(lab, opt); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// OpenManagedDirector opens IPVS in a director whose virtual service
// another program adds and keeps (keepalived's checkers): it records the
// lab's method, that service and the sysctls, and sets the method's
// sysctls and then extra ones, but adds nothing to the table.
func OpenManagedDirector(n *topology.Node, spec *topology.Spec, vip Service, extra map[string]string) (*Director, error) {
	method, err := MethodOf(spec.Mode)
	if err != nil {
		return nil, fmt.Errorf("lab %s: %w", spec.Name, err)
	}
	d, err := OpenDirectorAt(n)
	if err != nil {
		return nil, err
	}
	d.Method, d.port, d.VIP = method, spec.VIP.Port, []Service{vip}
	d.Sysctls = MethodSysctls(method)
	maps.Copy(d.Sysctls, extra)
	if err := d.setSysctls(); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// setSysctls sets every sysctl the director records, in name order.
func (d *Director) setSysctls() error {
	for _, k := range slices.Sorted(maps.Keys(d.Sysctls)) {
		if err := d.SetSysctl(k, d.Sysctls[k]); err != nil {
			return err
		}
	}
	return nil
}

func (d *Director) start(lab *topology.Lab, opt DirectorOptions) error {
	d.Sysctls, d.port = MethodSysctls(d.Method), lab.Spec.VIP.Port
	if err := d.setSysctls(); err != nil {
		return err
	}
	for _, v6 := range []bool{false, true} {
		vip := lab.Spec.VIP.IPv4
		if v6 {
			vip = lab.Spec.VIP.IPv6
		}
		if !vip.IsValid() {
			continue
		}
		for _, proto := range []string{"tcp", "udp"} {
			s := Service{Protocol: proto, Addr: vip, Port: lab.Spec.VIP.Port, Scheduler: opt.Scheduler}
			if err := d.AddService(s); err != nil {
				return err
			}
			d.VIP = append(d.VIP, s)
			for _, rs := range lab.RealServers() {
				if err := d.AddReal(s, Real{Addr: rs.Addr(v6), Port: lab.Spec.VIP.Port, Weight: 1, Method: d.Method}); err != nil {
					return err
				}
			}
		}
	}
	if err := Verify(lab, lab.Spec.Mode); err != nil {
		return fmt.Errorf("lab %s is not wired for %s:\n%w", lab.Spec.Name, lab.Spec.Mode, err)
	}
	return nil
}

// Service returns the VIP service StartDirector made for a protocol
// ("tcp" or "udp") and family.
func (d *Director) Service(protocol string, v6 bool) (Service, error) {
	for _, s := range d.VIP {
		if s.Protocol == protocol && s.Addr.Is6() == v6 {
			return s, nil
		}
	}
	return Service{}, errors.New("the director serves no " + protocol + map[bool]string{true: " IPv6", false: " IPv4"}[v6] + " VIP")
}

// Real returns a real server of the lab as a destination of the director's
// services, in its forwarding method.
func (d *Director) Real(rs *topology.Node, weight int, v6 bool) Real {
	return Real{Addr: rs.Addr(v6), Port: d.port, Weight: weight, Method: d.Method}
}
