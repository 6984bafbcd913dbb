//go:build linux

package keepalived

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/lvslab/lvslab/harness"
	"github.com/lvslab/lvslab/topology"
)

// HoldsVIP says whether the director has the VIP on its front link (a
// crashed director keeps it: the kernel does not know keepalived died).
func (d *Director) HoldsVIP() bool { return holdsVIP(d.pair.Lab, d.Node) }

func holdsVIP(lab *topology.Lab, n *topology.Node) bool {
	return harness.HasAddr(n, lab.Spec.FrontSegment(), lab.Spec.VIP.IPv4)
}

// HoldsFloating says whether the director has the floating gateway on its
// back link.
func (d *Director) HoldsFloating() bool { return holdsFloating(d.pair.Lab, d.Node) }

func holdsFloating(lab *topology.Lab, n *topology.Node) bool {
	return harness.HasAddr(n, lab.Spec.BackSegment(), lab.Spec.Floating)
}

// Holders are the directors that hold the VIP now.
func (p *Pair) Holders() []*Director {
	var out []*Director
	for _, d := range p.Directors {
		if d.HoldsVIP() {
			out = append(out, d)
		}
	}
	return out
}

// WaitMaster waits until exactly one director of the lab holds the VIP and
// returns it: the election is over. It needs no Pair, so that a command
// can wait for the pair a lab's supervisor runs.
func WaitMaster(ctx context.Context, lab *topology.Lab) (*topology.Node, error) {
	for {
		var holders []*topology.Node
		for _, n := range lab.Directors() {
			if holdsVIP(lab, n) {
				holders = append(holders, n)
			}
		}
		if len(holders) == 1 {
			return holders[0], nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no single director took the VIP %s: %w", lab.Spec.VIP.IPv4, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// WaitVIP waits until the director holds the VIP and returns the instant
// it got it (WatchVIP, received at once).
func (d *Director) WaitVIP(ctx context.Context) (time.Time, error) {
	got, err := d.WatchVIP(ctx)
	if err != nil {
		return time.Time{}, err
	}
	return got()
}

// WatchVIP starts watching the director's addresses and returns a
// function that waits for it to hold the VIP: the instant the kernel told
// of the new address (or, if it already held it, the instant the watch
// began). Arm it before a fault, so that how long the fault itself takes
// (a graceful stop waits for keepalived to end) never delays the reading.
// Watching ends when ctx does or the VIP is seen.
func (d *Director) WatchVIP(ctx context.Context) (func() (time.Time, error), error) {
	ns, err := netns.GetFromPath(d.Node.NsPath())
	if err != nil {
		return nil, fmt.Errorf("open namespace of %s: %w", d.Name(), err)
	}
	defer ns.Close()
	updates := make(chan netlink.AddrUpdate, 64)
	done := make(chan struct{})
	failed := make(chan error, 1)
	opts := netlink.AddrSubscribeOptions{Namespace: &ns, ListExisting: true, ErrorCallback: func(err error) {
		select {
		case failed <- err:
		default:
		}
	}}
	if err := netlink.AddrSubscribeWithOptions(updates, done, opts); err != nil {
		return nil, fmt.Errorf("watch the addresses of %s: %w", d.Name(), err)
	}
	vip := d.pair.Lab.Spec.VIP.IPv4
	type seen struct {
		at  time.Time
		err error
	}
	result := make(chan seen, 1)
	// Read at once, whenever the caller waits: the instant is when the
	// update arrived, not when someone looked.
	go func() {
		defer close(done)
		for {
			select {
			case u, ok := <-updates:
				if !ok {
					result <- seen{err: fmt.Errorf("watching the addresses of %s ended", d.Name())}
					return
				}
				if a, _ := netip.AddrFromSlice(u.LinkAddress.IP); u.NewAddr && a.Unmap() == vip {
					result <- seen{at: time.Now()}
					return
				}
			case err := <-failed:
				result <- seen{err: fmt.Errorf("watch the addresses of %s: %w", d.Name(), err)}
				return
			case <-ctx.Done():
				result <- seen{err: fmt.Errorf("%s did not take the VIP %s: %w (its log: %s)", d.Name(), vip, ctx.Err(), d.Keepalived.Files.Log)}
				return
			}
		}
	}()
	return func() (time.Time, error) {
		r := <-result
		return r.at, r.err
	}, nil
}

// FrontMAC is the hardware address of the director's front link: what the
// client's neighbour entry for the VIP must show when it is master.
func (d *Director) FrontMAC() (net.HardwareAddr, error) {
	l, err := d.Node.Netlink().LinkByName(d.pair.Lab.Spec.FrontSegment())
	if err != nil {
		return nil, fmt.Errorf("front link of %s: %w", d.Name(), err)
	}
	return l.Attrs().HardwareAddr, nil
}

// NeighbourOfVIP is the client's neighbour entry for the VIP: whose MAC
// the client sends the VIP's packets to, and the entry's state.
func (p *Pair) NeighbourOfVIP() (net.HardwareAddr, string, error) {
	c := p.Lab.Client()
	l, err := c.Netlink().LinkByName(p.Lab.Spec.FrontSegment())
	if err != nil {
		return nil, "", err
	}
	neighs, err := c.Netlink().NeighList(l.Attrs().Index, netlink.FAMILY_V4)
	if err != nil {
		return nil, "", fmt.Errorf("read the client's neighbours: %w", err)
	}
	for _, n := range neighs {
		if a, ok := netip.AddrFromSlice(n.IP); ok && a.Unmap() == p.Lab.Spec.VIP.IPv4 {
			return n.HardwareAddr, neighState(n.State), nil
		}
	}
	return nil, "", nil
}

func neighState(s int) string {
	for bit, name := range map[int]string{netlink.NUD_INCOMPLETE: "INCOMPLETE", netlink.NUD_REACHABLE: "REACHABLE",
		netlink.NUD_STALE: "STALE", netlink.NUD_DELAY: "DELAY", netlink.NUD_PROBE: "PROBE", netlink.NUD_FAILED: "FAILED",
		netlink.NUD_PERMANENT: "PERMANENT", netlink.NUD_NOARP: "NOARP"} {
		if s&bit != 0 {
			return name
		}
	}
	return "NONE"
}
