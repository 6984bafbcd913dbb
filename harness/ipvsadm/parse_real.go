//go:build linux

package ipvsadm

import (
	"errors"
	"fmt"
	"math"

	"github.com/lvslab/lvslab/harness"
)

// The real-server commands of a rules file: -a, -e, -d, with the
// forwarding method and its tunnel settings.

func (p *parser) addReal(cmd use, w words) error {
	svc, r, err := p.realOf(cmd, w, true)
	if svc == nil || err != nil {
		return err
	}
	if err := svc.AddReal(r); err != nil {
		return fmt.Errorf("%w: use -e to change it, or remove one of the lines", err)
	}
	return nil
}

func (p *parser) editReal(cmd use, w words) error {
	_, old, r, err := p.existingReal(cmd, w, true, "add it with -a first")
	if old != nil {
		*old = *r
	}
	return err
}

func (p *parser) delReal(cmd use, w words) error {
	svc, old, _, err := p.existingReal(cmd, w, false, "remove the line")
	if old != nil {
		svc.removeReal(old)
	}
	return err
}

// existingReal is the real server an -e or -d line names (old) and what
// the line says of it (r); old is nil on an error, or on a line of a
// service whose -A line was bad.
func (p *parser) existingReal(cmd use, w words, settings bool, remedy string) (svc *Service, old, r *Real, err error) {
	svc, r, err = p.realOf(cmd, w, settings)
	if svc == nil || err != nil {
		return nil, nil, nil, err
	}
	if old = svc.Real(r.Addr, r.Port); old == nil {
		return nil, nil, nil, fmt.Errorf("%s names real server %s of %s, which no line before adds: %s", cmd.as, hostPort(r.Addr, r.Port), svc.Key(), remedy)
	}
	return svc, old, r, nil
}

// realOf reads a real server's line; settings says whether it sets one
// (-a, -e) or only names one (-d). A nil service with no error is a line
// of a service whose -A line was bad.
func (p *parser) realOf(cmd use, w words, settings bool) (*Service, *Real, error) {
	id, err := serviceOf(w)
	if err != nil {
		return nil, nil, err
	}
	svc, err := p.existing(cmd, id)
	if svc == nil {
		return nil, nil, err
	}
	u, _ := w.get(optRealServer)
	a, port, hasPort, err := addrPort(u.value)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", u.as, quote(u.value), err)
	}
	if !hasPort {
		port = svc.Port
	}
	r := &Real{Real: harness.Real{Addr: a, Port: port, Weight: DefaultWeight, Method: harness.MethodDR}, Line: p.line}
	if !settings {
		return svc, r, nil
	}
	if f, ok := w.group(groupForward); ok {
		r.Method = methods[f.spec.id]
	}
	if a.Is6() != svc.Addr.Is6() && r.Method != harness.MethodTUN {
		return nil, nil, fmt.Errorf("real server %s and service %s are of different families: only tunnelling (-i) crosses them", a, svc.Key())
	}
	// Direct routing and tunnelling keep the packet's port: ipvsadm sets
	// the service's whatever the line says.
	if svc.FWMark == 0 && r.Method != harness.MethodNAT {
		if hasPort && port != svc.Port {
			p.finding("real server %s: port %d ignored, %s sends to the service's port %d (as ipvsadm does)", a, port, r.Method, svc.Port)
		}
		r.Port = svc.Port
	}
	if u, ok := w.get(optWeight); ok {
		n, err := number(u.value, 0, maxWeight)
		if err != nil {
			return nil, nil, fmt.Errorf("%s %s: a weight is a number from 0 to %d", u.as, quote(u.value), maxWeight)
		}
		r.Weight = int(n)
	}
	for _, th := range []struct {
		id optID
		to *uint32
	}{{optUThreshold, &r.UpperThreshold}, {optLThreshold, &r.LowerThreshold}} {
		if u, ok := w.get(th.id); ok {
			n, err := number(u.value, 0, math.MaxInt32)
			if err != nil {
				return nil, nil, fmt.Errorf("%s %s: a connection threshold is a number from 0 to %d", u.as, quote(u.value), math.MaxInt32)
			}
			*th.to = uint32(n)
		}
	}
	if r.LowerThreshold > r.UpperThreshold {
		return nil, nil, fmt.Errorf("lower threshold %d is above upper threshold %d, which the kernel refuses: set -x at least as high as -y", r.LowerThreshold, r.UpperThreshold)
	}
	if err := tunnelOf(w, r); err != nil {
		return nil, nil, err
	}
	return svc, r, nil
}

// tunnelOf reads the --tun-* options as ipvsadm's tunnel_opt_check does.
func tunnelOf(w words, r *Real) error {
	var tun []use
	for _, u := range w.opts {
		switch u.spec.id {
		case optTunType, optTunPort, optTunNoCsum, optTunCsum, optTunRemCsum:
			tun = append(tun, u)
		}
	}
	if r.Method != harness.MethodTUN {
		if len(tun) > 0 {
			return fmt.Errorf("%s is for tunnelled real servers only: add -i, or remove it", tun[0].as)
		}
		return nil
	}
	r.Tunnel.Type = TunnelIPIP
	if u, ok := w.get(optTunType); ok {
		switch u.value {
		case TunnelIPIP, TunnelGUE, TunnelGRE:
			r.Tunnel.Type = u.value
		default:
			return fmt.Errorf("%s %s: a tunnel type is ipip, gue or gre", u.as, quote(u.value))
		}
	}
	// What each type takes: ipip nothing, gue a port and one checksum
	// mode, gre a checksum mode but no port nor remote checksum.
	var csum []use
	for _, u := range tun {
		switch u.spec.id {
		case optTunPort:
			if r.Tunnel.Type != TunnelGUE {
				return fmt.Errorf("%s is for --tun-type gue only: remove it", u.as)
			}
			n, err := number(u.value, 1, math.MaxUint16)
			if err != nil {
				return fmt.Errorf("%s %s: a tunnel port is a number from 1 to 65535", u.as, quote(u.value))
			}
			r.Tunnel.Port = uint16(n)
		case optTunNoCsum, optTunCsum, optTunRemCsum:
			if r.Tunnel.Type == TunnelIPIP || r.Tunnel.Type == TunnelGRE && u.spec.id == optTunRemCsum {
				return fmt.Errorf("%s does not go with --tun-type %s: remove it", u.as, r.Tunnel.Type)
			}
			csum = append(csum, u)
			r.Tunnel.Checksum = map[optID]string{optTunNoCsum: "", optTunCsum: ChecksumOn, optTunRemCsum: ChecksumRemote}[u.spec.id]
		}
	}
	if len(csum) > 1 {
		return fmt.Errorf("%s and %s both give the tunnel checksum: keep one", csum[0].as, csum[1].as)
	}
	if r.Tunnel.Type == TunnelGUE && r.Tunnel.Port == 0 {
		return errors.New("--tun-type gue needs --tun-port PORT (the real server's GUE port)")
	}
	return nil
}
