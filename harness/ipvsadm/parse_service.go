//go:build linux

package ipvsadm

import (
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"strings"
	"time"

	"github.com/lvslab/lvslab/harness"
)

// The service commands of a rules file: -A, -E, -D and the settings
// they take.

func (p *parser) addService(cmd use, w words) error {
	id, err := serviceOf(w)
	if err != nil {
		return err
	}
	k := keyOf(id)
	s, err := p.settings(w, id)
	if err != nil {
		p.broken[k] = true
		return err
	}
	s.Line = p.line
	if err := p.t.Add(s); err != nil {
		return fmt.Errorf("%w: use -E to change it, or remove one of the lines", err)
	}
	delete(p.broken, k)
	return nil
}

func (p *parser) editService(cmd use, w words) error {
	id, err := serviceOf(w)
	if err != nil {
		return err
	}
	old, err := p.existing(cmd, id)
	if old == nil {
		return err
	}
	s, err := p.settings(w, id)
	if err != nil {
		return err
	}
	old.Service, old.PE, old.Line = s.Service, s.PE, p.line
	return nil
}

func (p *parser) delService(cmd use, w words) error {
	id, err := serviceOf(w)
	if err != nil {
		return err
	}
	old, err := p.existing(cmd, id)
	if old != nil {
		p.t.remove(old)
	}
	return err
}

// existing is the service a line changes: an error if no line before
// added it, nothing if its -A line was bad.
func (p *parser) existing(cmd use, id harness.Service) (*Service, error) {
	k := keyOf(id)
	if s := p.t.Service(k); s != nil {
		return s, nil
	}
	if p.broken[k] {
		return nil, nil
	}
	return nil, fmt.Errorf("%s names service %s, which no line before adds: add it with -A first (ipvsadm -R would fail with \"No such service\")", cmd.as, k)
}

// settings reads what -A and -E set: scheduler, persistence, flags.
func (p *parser) settings(w words, id harness.Service) (*Service, error) {
	s := &Service{Service: id}
	s.Scheduler = DefaultScheduler
	if u, ok := w.get(optScheduler); ok {
		if err := checkName(u, "scheduler"); err != nil {
			return nil, err
		}
		s.Scheduler = u.value
	}
	if u, ok := w.get(optPersistent); ok {
		s.Persistence = DefaultPersistence
		if u.hasValue {
			secs, err := number(u.value, 1, maxTimeout)
			if err != nil {
				return nil, fmt.Errorf("%s %s: persistence is 1 to %d seconds (31 days)", u.as, quote(u.value), maxTimeout)
			}
			s.Persistence = time.Duration(secs) * time.Second
		}
		s.PersistenceBits = 32
		if s.Addr.Is6() {
			s.PersistenceBits = 128
		}
	}
	if u, ok := w.get(optNetmask); ok {
		bits, err := netmask(u, s.Addr.Is6())
		if err != nil {
			return nil, err
		}
		if s.Persistence > 0 {
			s.PersistenceBits = bits
		} else {
			p.finding("%s %s has no effect without -p: the netmask only groups the clients of a persistent service", u.as, u.value)
		}
	}
	if u, ok := w.get(optOps); ok {
		if s.FWMark == 0 && s.Protocol != "udp" {
			return nil, fmt.Errorf("%s (one-packet scheduling) is for UDP services only: remove it, or make the service -u", u.as)
		}
		s.Flags |= harness.FlagOnePacket
	}
	if u, ok := w.get(optPE); ok {
		if err := checkName(u, "persistence engine"); err != nil {
			return nil, err
		}
		s.PE = u.value
	}
	if u, ok := w.get(optSchedFlags); ok {
		f, err := schedFlags(u, s.Scheduler)
		if err != nil {
			return nil, err
		}
		s.Flags |= f
	}
	if s.FWMark == 0 && s.Port == 0 && s.Persistence == 0 {
		return nil, errors.New("port 0 (every port) needs persistence, ipvsadm refuses it otherwise: add -p, or give the port as ADDR:PORT")
	}
	return s, nil
}

// checkName checks a scheduler or persistence engine's name. Which ones
// exist is the kernel's to say: a restore names the one it lacks.
func checkName(u use, what string) error {
	if u.value == "" || len(u.value) > maxNameLen || strings.ContainsFunc(u.value, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_')
	}) {
		return fmt.Errorf("%s %s: a %s is named by up to %d lowercase letters, digits or _ (rr, wrr, lc, wlc, sh, mh, …)", u.as, quote(u.value), what, maxNameLen)
	}
	return nil
}

// netmask reads -M: a dotted netmask for IPv4 (ipvsadm's parse_netmask), a
// prefix length for IPv6.
func netmask(u use, v6 bool) (int, error) {
	if v6 {
		n, err := number(u.value, 1, 128)
		if err != nil {
			return 0, fmt.Errorf("%s %s: an IPv6 service's persistence netmask is a prefix length from 1 to 128", u.as, quote(u.value))
		}
		return int(n), nil
	}
	m, err := netip.ParseAddr(u.value)
	if err != nil || !m.Is4() {
		return 0, fmt.Errorf("%s %s: an IPv4 service's persistence netmask is dotted, such as 255.255.255.0 (ipvsadm would read a bare number as an address)", u.as, quote(u.value))
	}
	b := m.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	n := bits.LeadingZeros32(^v)
	if n == 0 || v<<n != 0 {
		return 0, fmt.Errorf("%s %s: lvslab takes a contiguous netmask from 128.0.0.0 to 255.255.255.255 (a prefix): use one", u.as, u.value)
	}
	return n, nil
}

// schedFlags reads -b as ipvsadm's parse_sched_flags does: the sh and mh
// names only with their scheduler.
func schedFlags(u use, sched string) (uint32, error) {
	var f uint32
	for _, name := range strings.Split(u.value, ",") {
		var bit uint32
		var only string
		switch name {
		case "flag-1":
			bit = FlagSched1
		case "flag-2":
			bit = FlagSched2
		case "flag-3":
			bit = FlagSched3
		case "sh-fallback", "mh-fallback":
			bit, only = FlagSched1, name[:2]
		case "sh-port", "mh-port":
			bit, only = FlagSched2, name[:2]
		default:
			return 0, fmt.Errorf("%s %s: %s is not a scheduler flag: use sh-fallback, sh-port, mh-fallback, mh-port or flag-1, flag-2, flag-3, separated by commas", u.as, quote(u.value), quote(name))
		}
		if only != "" && sched != only {
			return 0, fmt.Errorf("%s %s: %s is a flag of the %s scheduler, not %s: use -s %s, or remove the flag", u.as, quote(u.value), name, only, sched, only)
		}
		f |= bit
	}
	return f, nil
}
