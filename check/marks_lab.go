//go:build linux

package check

import (
	"fmt"
	"net/netip"
	"os/exec"
	"slices"
	"strings"

	"github.com/lvslab/lvslab/harness"
	"github.com/lvslab/lvslab/topology"
)

// loadMarks loads each captured director's nft ruleset into its
// namespace, before keepalived starts, and records where each mark is
// set; the fwmark services it marks become checkable.
func (e *env) loadMarks() {
	e.marks = map[int][]target{}
	var why []string
	for _, dir := range e.b.Directors {
		m := dir.Machine
		if m == nil {
			continue
		}
		if strings.TrimSpace(m.NFT) == "" {
			if strings.Contains(m.IPTablesMangle, "MARK") {
				why = append(why, fmt.Sprintf("%s's capture marks with iptables, which the lab does not load (only nft rulesets: iptables-restore is not installed here)", dir.Name))
			}
			continue
		}
		n := e.lab.Node(dir.Node)
		targets, err := nftMarks(n, m.NFT, vipsOf(dir))
		if err != nil {
			e.d.Unbuilt = append(e.d.Unbuilt, fmt.Sprintf("%s: its nft ruleset (%v)", dir.Name, err))
			why = append(why, fmt.Sprintf("%s's nft ruleset does not load: %v", dir.Name, err))
			continue
		}
		for mark, ts := range targets {
			for _, t := range ts {
				if !slices.Contains(e.marks[mark], t) && len(e.marks[mark]) < reachAddrs {
					e.marks[mark] = append(e.marks[mark], t)
				}
			}
		}
		if len(targets) > 0 {
			e.step("%s's firewall marks: %s", dir.Name, describeMarks(targets))
		}
	}
	for i := range e.d.Services {
		s := &e.d.Services[i]
		switch {
		case s.FWMark == 0:
		case len(e.marks[s.FWMark]) > 0:
			s.Checked, s.Why = true, ""
		case len(why) > 0:
			s.Why = strings.Join(why, "; ")
		case e.anyCapture():
			s.Why = fmt.Sprintf("the captured firewall rules set no mark %d (nft list ruleset)", s.FWMark)
		}
	}
}

func (e *env) anyCapture() bool {
	return slices.ContainsFunc(e.b.Directors, func(d *Director) bool { return d.Machine != nil })
}

// nftMarks loads a ruleset into a node and reads back what it marks.
func nftMarks(n *topology.Node, ruleset string, vips []netip.Addr) (map[int][]target, error) {
	if err := harness.Nft(n, ruleset); err != nil {
		return nil, err
	}
	var out []byte
	err := n.Do(func() error {
		var err error
		out, err = exec.Command("nft", "-j", "list", "ruleset").Output()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("nft -j list ruleset in %s: %w", n.Name, err)
	}
	rules, err := nftRules(out)
	if err != nil {
		return nil, err
	}
	return markTargets(rules, vips), nil
}

// vipsOf are the VIPs a director's file gives its instances.
func vipsOf(dir *Director) []netip.Addr {
	var out []netip.Addr
	for _, in := range dir.Conf.Instances {
		for _, v := range in.VIPs {
			out = append(out, v.Prefix.Addr())
		}
	}
	return out
}

// markedVIPs are the marked addresses a real-server node must hold on lo:
// those of the fwmark services it serves by DR or TUN.
func (e *env) markedVIPs(sp *ServerPlan) []netip.Addr {
	var out []netip.Addr
	bypass := func(r RealRef) bool { return r.Method != harness.MethodNAT }
	for _, t := range e.markedTargets(sp, bypass) {
		if !slices.Contains(out, t.addr.Addr()) {
			out = append(out, t.addr.Addr())
		}
	}
	return out
}

// markedTargets are the marked destinations of the fwmark services a
// real-server node serves, through the real servers that match.
func (e *env) markedTargets(sp *ServerPlan, match func(RealRef) bool) []target {
	var out []target
	for _, s := range e.d.Services {
		if s.FWMark == 0 {
			continue
		}
		for _, r := range s.Reals {
			if !slices.Contains(sp.Addrs, r.Addr) || !match(r) {
				continue
			}
			for _, t := range e.marks[s.FWMark] {
				if !slices.Contains(out, t) {
					out = append(out, t)
				}
			}
		}
	}
	return out
}

// openMarkedPorts opens on a real server's application the marked ports
// its fwmark services pass on unchanged (a real server without a port
// takes the packet's).
func (e *env) openMarkedPorts(sp *ServerPlan, app *harness.App) error {
	portless := func(r RealRef) bool { return r.Port == 0 }
	for _, t := range e.markedTargets(sp, portless) {
		if err := app.Open(harness.AppPort{Protocol: t.proto, Port: t.addr.Port(), TLS: e.servesTLS(sp.Addrs[0], t.addr.Port())}); err != nil {
			return err
		}
	}
	return nil
}
