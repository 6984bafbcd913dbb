//go:build linux

package check

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/lvslab/lvslab/harness/keepalived/conf"
)

// The faults the health checks put real servers through, which checker
// each one fails, and the windows the file gives keepalived to notice.
// Pure: the plan is made from the file alone; health.go runs it.

// Faults a real server can be put through.
const (
	// faultRefused: the application's port is closed; a connect is
	// refused at once.
	faultRefused = "refused"
	// faultBlackholed: the real server drops every packet to the port
	// (echo requests for PING_CHECK); an attempt waits connect_timeout.
	faultBlackholed = "blackholed"
	// faultWrongStatus: the application answers the checked paths with a
	// status the checker does not accept.
	faultWrongStatus = "wrong-status"
	// faultUnreachable: every director has "ip route add unreachable"
	// for the real server (keepalived issue 2115).
	faultUnreachable = "unreachable"
	// faultScript: the MISC_CHECK script (the lab's stub) exits 1.
	faultScript = "script-fails"
)

// notEmulated says why the lab cannot put a checker of that kind through
// faults: it runs nothing such a checker talks to.
var notEmulated = map[string]string{
	"SMTP_CHECK": "SMTP_CHECK: the lab runs no mail server (the application answers HTTP and a UDP echo)",
	"DNS_CHECK":  "DNS_CHECK: the lab runs no DNS server (the application answers HTTP and a UDP echo)",
	"BFD_CHECK":  "BFD_CHECK follows a BFD session with the real server; the lab runs no BFD peer there",
	"FILE_CHECK": "FILE_CHECK follows a file the operator's own tooling writes on the director; nothing in the lab writes it",
}

// faultsOf lists the faults the lab can put a checker through, or says
// why it cannot.
func faultsOf(c conf.Checker) ([]string, string) {
	if c.Dropped {
		return nil, c.Kind + ": keepalived drops this checker once read (see acceptance), so it never runs"
	}
	if why, ok := notEmulated[c.Kind]; ok {
		return nil, why
	}
	switch c.Kind {
	case "TCP_CHECK":
		return []string{faultRefused, faultBlackholed, faultUnreachable}, ""
	case "HTTP_GET", "SSL_GET":
		return []string{faultRefused, faultBlackholed, faultWrongStatus, faultUnreachable}, ""
	case "UDP_CHECK":
		if c.RequireRep.Set {
			return nil, "UDP_CHECK with require_reply: the lab's echo prefixes the real server's name to each datagram, " +
				"and the lab does not read the reply data and lengths the checker wants"
		}
		// Without require_reply a silent server passes (layer4.c: a read
		// timeout is a success), so dropping its packets is no fault.
		return []string{faultRefused, faultUnreachable}, ""
	case "PING_CHECK":
		return []string{faultBlackholed, faultUnreachable}, ""
	case "MISC_CHECK":
		return []string{faultScript}, ""
	}
	return nil, c.Kind + ": a checker the lab does not know"
}

// probe is what a checker talks to: its protocol (tcp, udp, or icmp
// with no port) and address.
type probe struct {
	Proto string
	Addr  netip.AddrPort
}

// probeOf is where a checker of a real server connects: connect_ip and
// connect_port, else the real server's address and port.
func probeOf(r RealRef, c conf.Checker) probe {
	p := probe{Proto: "tcp", Addr: netip.AddrPortFrom(r.Addr, r.Port)}
	if c.ConnectIP.Set {
		p.Addr = netip.AddrPortFrom(c.ConnectIP.Value, p.Addr.Port())
	}
	if c.ConnectPort.Set {
		p.Addr = netip.AddrPortFrom(p.Addr.Addr(), uint16(c.ConnectPort.Value))
	}
	switch c.Kind {
	case "UDP_CHECK":
		p.Proto = "udp"
	case "PING_CHECK":
		p.Proto, p.Addr = "icmp", netip.AddrPortFrom(p.Addr.Addr(), 0)
	}
	return p
}

// subject names a probe in result IDs: address:port, or the address
// alone for an echo request.
func (p probe) subject() string {
	if p.Proto == "icmp" {
		return p.Addr.Addr().String()
	}
	return p.Addr.String()
}

// hits says whether a fault put on target fails checker c, which talks
// to p: the same port for refused and dropped packets, the checked paths
// for a wrong status, any checker over the network for a route.
func hits(fault string, target probe, c conf.Checker, p probe) bool {
	if _, why := faultsOf(c); why != "" {
		return false
	}
	switch fault {
	case faultRefused, faultBlackholed:
		return p == target && slices.Contains(mustFaults(c), fault)
	case faultWrongStatus:
		return p == target && (c.Kind == "HTTP_GET" || c.Kind == "SSL_GET")
	case faultUnreachable:
		return c.Kind != "MISC_CHECK" && p.Addr.Addr() == target.Addr.Addr()
	}
	return false
}

func mustFaults(c conf.Checker) []string {
	f, _ := faultsOf(c)
	return f
}

// accepts says whether a status passes the checker's URL: its
// status_code ranges, 200-299 without one (check_http.c).
func accepts(u conf.URL, status int) bool {
	if len(u.StatusCodes) == 0 {
		return status >= 200 && status <= 299
	}
	return slices.ContainsFunc(u.StatusCodes, func(r conf.StatusRange) bool { return status >= r.Min && status <= r.Max })
}

// wrongStatus is a status none of the URLs accepts: 500 unless the file
// accepts it, then the next of a few an application may answer.
func wrongStatus(urls []conf.URL) (int, bool) {
	for _, s := range []int{500, 503, 404, 403, 400, 302, 200} {
		if !slices.ContainsFunc(urls, func(u conf.URL) bool { return accepts(u, s) }) {
			return s, true
		}
	}
	return 0, false
}

// wrongAnswers gives every checked path a status its URLs reject, so
// that the check fails whichever URL a pass is at; it says why not when
// a path takes every status the lab would answer with.
func (hc *healthCase) wrongAnswers() string {
	byPath := map[string][]conf.URL{}
	var paths []string
	for _, ch := range hc.Checkers {
		for _, u := range ch.URLs {
			if _, ok := byPath[u.Path.Value]; !ok {
				paths = append(paths, u.Path.Value)
			}
			byPath[u.Path.Value] = append(byPath[u.Path.Value], u)
		}
	}
	hc.Answers = map[string]int{}
	for _, p := range paths {
		st, ok := wrongStatus(byPath[p])
		if !ok {
			return fmt.Sprintf("the status_code of url %s accepts every status the lab would answer with", p)
		}
		hc.Answers[p] = st
	}
	return ""
}

// healthCase is one fault put to one real server of a virtual service.
type healthCase struct {
	ID      string
	Fault   string
	Target  probe
	Service Service
	Real    RealRef
	// Checkers are the real server's checkers the fault fails; the
	// server goes out with the first and back with the last.
	Checkers []conf.Checker
	Inhibit  bool
	Where    []Pos
	Down, Up Window
	// Answers are the statuses the checked paths answer with under
	// faultWrongStatus, each one its URL does not accept.
	Answers map[string]int
	// Misc is the misc_path line whose stub fails under faultScript.
	Misc conf.Pos
	// Why, when set, says the case cannot run (not checked).
	Why string
}

// planHealth makes the cases of a file: for each virtual service and
// each kind of checker in it (each MISC_CHECK script), the first real
// server with that checker,
// put through every fault that applies to the kind; and results for
// what the lab cannot emulate.
func planHealth(f *conf.File) ([]healthCase, []Result) {
	var cases []healthCase
	var skipped []Result
	seen := map[string]bool{}
	services := servicesOfConf(f)
	for _, vs := range f.VirtualServers {
		i := slices.IndexFunc(services, func(s Service) bool { return s.Pos == posOf(vs.Pos) })
		if i < 0 {
			continue // keepalived drops it; acceptance says why
		}
		s := services[i]
		kinds := map[string]bool{}
		for ri, rs := range vs.Reals {
			r := s.Reals[ri]
			for _, c := range rs.Checkers {
				// Checkers of a kind are alike, but each MISC_CHECK
				// script is its own (and may be missing).
				kind := c.Kind
				if c.Misc != nil && len(c.Misc.Args) > 0 {
					kind += " " + c.Misc.Args[0]
				}
				if kinds[kind] {
					continue
				}
				kinds[kind] = true
				p := probeOf(r, c)
				faults, why := faultsOf(c)
				if why == "" && p.Addr.Addr() != r.Addr {
					why = fmt.Sprintf("%s probes %s (connect_ip), not the real server: the lab puts faults on real servers only", c.Kind, p.Addr.Addr())
				}
				if why != "" {
					id := "health/" + p.subject() + "/" + c.Kind
					if !seen[id] {
						seen[id] = true
						skipped = append(skipped, Result{ID: id, Group: GroupHealth, Title: fmt.Sprintf("%s of %s (%s)", c.Kind, r.Addr, s.Key),
							Where: []Pos{posOf(rs.Pos), posOf(c.Pos)}, Status: NotChecked, Reason: why})
					}
					continue
				}
				for _, fault := range faults {
					hc := newCase(vs, rs, s, r, c, p, fault)
					if seen[hc.ID] {
						continue // the same fault on the same port: one case says it
					}
					seen[hc.ID] = true
					cases = append(cases, hc)
				}
			}
		}
	}
	return cases, skipped
}

// newCase is one fault on the probe of checker c, with its windows.
func newCase(vs conf.VirtualServer, rs conf.RealServer, s Service, r RealRef, c conf.Checker, p probe, fault string) healthCase {
	hc := healthCase{ID: "health/" + p.subject() + "/" + fault, Fault: fault, Target: p, Service: s, Real: r,
		Inhibit: vs.Inhibit.Value, Where: []Pos{posOf(rs.Pos)}}
	if rs.Inhibit.Set {
		hc.Inhibit = rs.Inhibit.Value
	}
	if fault == faultScript {
		hc.Checkers = []conf.Checker{c}
		if c.Misc != nil {
			hc.Misc = c.Misc.Pos
		}
	} else {
		for _, other := range rs.Checkers {
			if hits(fault, p, other, probeOf(r, other)) {
				hc.Checkers = append(hc.Checkers, other)
			}
		}
	}
	var downs, ups []Window
	hang := fault == faultBlackholed
	for _, ch := range hc.Checkers {
		hc.Where = append(hc.Where, posOf(ch.Pos))
		t := timingOfChecker(vs, rs, ch)
		downs, ups = append(downs, t.downWindow(hang)), append(ups, t.upWindow(hang))
		if fault == faultWrongStatus {
			for _, u := range ch.URLs {
				hc.Where = append(hc.Where, posOf(u.Pos))
			}
		}
	}
	hc.Down, hc.Up = firstOf(downs, "checker to fail"), lastOf(ups, "checker to pass")
	if fault == faultWrongStatus {
		hc.Why = hc.wrongAnswers()
	}
	return hc
}

// firstOf bounds the first of several events, each within its window:
// no earlier than the earliest start, no later than the earliest end;
// what names the events ("checker to fail").
func firstOf(ws []Window, what string) Window {
	return combine(ws, "the first "+what, func(a, b time.Duration) time.Duration { return min(a, b) })
}

// lastOf bounds the last of several events: no earlier than the latest
// start, no later than the latest end.
func lastOf(ws []Window, what string) Window {
	return combine(ws, "the last "+what, func(a, b time.Duration) time.Duration { return max(a, b) })
}

func combine(ws []Window, what string, pick func(a, b time.Duration) time.Duration) Window {
	if len(ws) == 1 {
		return ws[0]
	}
	out := ws[0]
	var f []string
	for _, w := range ws {
		out.Min, out.Max = pick(out.Min, w.Min), pick(out.Max, w.Max)
		out.Hops, out.Checks = max(out.Hops, w.Hops), max(out.Checks, w.Checks)
		f = append(f, w.Formula)
	}
	out.Formula = what + " of: " + strings.Join(f, " | ")
	return out
}
