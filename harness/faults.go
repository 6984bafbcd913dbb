//go:build linux

package harness

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/lvslab/lvslab/topology"
)

// Faults a real server can suffer, each with its recovery (a director
// pair's are package keepalived's). A fault returns the instant it was in
// place.

// ServerFault is what can go wrong with a real server while its node is
// fine.
type ServerFault string

const (
	// FaultRefused: the server process is gone; its port refuses.
	FaultRefused ServerFault = "refused"
	// FaultBlackhole: the port drops every packet (nftables), as a hung
	// host or a firewall does; a connect times out.
	FaultBlackhole ServerFault = "blackhole"
	// FaultSlow: the server accepts, but answers only after SlowDelay.
	FaultSlow ServerFault = "slow"
	// Fault503: the server answers every request with 503.
	Fault503 ServerFault = "503"
)

// ServerFaults lists the real-server faults.
var ServerFaults = []ServerFault{FaultRefused, FaultBlackhole, FaultSlow, Fault503}

// SlowDelay is how long a slowed server takes per request: longer than
// the lab's checker timeout, so the checker gives up on it.
const SlowDelay = 3 * time.Second

// InjectFault makes one real server fail in that way and returns the
// instant the fault was in place; ClearFault recovers it.
func (s *RealServer) InjectFault(f ServerFault) (time.Time, error) {
	var err error
	switch f {
	case FaultRefused:
		err = s.Stop()
	case FaultBlackhole:
		err = DropInbound(s.Node, "tcp", s.port)
	case FaultSlow:
		s.Degrade(0, SlowDelay)
	case Fault503:
		s.Degrade(http.StatusServiceUnavailable, 0)
	default:
		err = fmt.Errorf("real-server fault %q: use refused, blackhole, slow or 503", f)
	}
	return time.Now(), err
}

// ClearFault recovers a real server from a fault InjectFault caused, and
// returns the instant it was healthy again. Clearing a fault already
// cleared does nothing, so that a spec may clear it and still leave the
// clearing to its cleanup.
func (s *RealServer) ClearFault(f ServerFault) (time.Time, error) {
	var err error
	switch f {
	case FaultRefused:
		err = s.Start()
	case FaultBlackhole:
		err = ClearDropInbound(s.Node, "tcp", s.port)
	case FaultSlow, Fault503:
		s.Degrade(0, 0)
	default:
		err = fmt.Errorf("real-server fault %q: use refused, blackhole, slow or 503", f)
	}
	return time.Now(), err
}

// dropTable is the inet-family table that drops a node's inbound packets
// to one port: one table per port, so that clearing one leaves others.
func dropTable(protocol string, port uint16) string {
	if protocol == "icmp" {
		return "lvslab_drop_echo"
	}
	return "lvslab_drop_" + protocol + "_" + strconv.Itoa(int(port))
}

// DropInbound makes a node drop every packet that arrives for a port
// ("tcp" or "udp"), or every echo request ("icmp"), as a hung host or a
// firewall does: a connection attempt or a ping times out instead of
// being refused. ClearDropInbound undoes it.
func DropInbound(n *topology.Node, protocol string, port uint16) error {
	var match string
	switch protocol {
	case "tcp", "udp":
		match = fmt.Sprintf("%s dport %d drop", protocol, port)
	case "icmp":
		match = "icmp type echo-request drop\n  icmpv6 type echo-request drop"
	default:
		return fmt.Errorf("drop %s packets: use tcp, udp or icmp", protocol)
	}
	return Nft(n, fmt.Sprintf("table inet %s {\n chain input {\n  type filter hook input priority 0; policy accept;\n  %s\n }\n}\n",
		dropTable(protocol, port), match))
}

// ClearDropInbound removes what DropInbound added; it does nothing when
// that is gone already.
func ClearDropInbound(n *topology.Node, protocol string, port uint16) error {
	t := dropTable(protocol, port)
	// Declaring the table first makes the delete succeed when it is gone.
	return Nft(n, "table inet "+t+"\ndelete table inet "+t+"\n")
}

// RouteUnreachable gives a node a host route that makes its kernel
// refuse every packet to a at once, "ip route add unreachable a/32" (the
// setup of keepalived issue 2115): a connect() there fails with
// EHOSTUNREACH. ClearRouteUnreachable removes it.
func RouteUnreachable(n *topology.Node, a netip.Addr) error {
	if err := n.Netlink().RouteAdd(unreachableRoute(a)); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s: ip route add unreachable %s: %w", n.Name, a, err)
	}
	return nil
}

// ClearRouteUnreachable removes RouteUnreachable's route; it does
// nothing when the route is gone already.
func ClearRouteUnreachable(n *topology.Node, a netip.Addr) error {
	if err := n.Netlink().RouteDel(unreachableRoute(a)); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("%s: ip route del unreachable %s: %w", n.Name, a, err)
	}
	return nil
}

func unreachableRoute(a netip.Addr) *netlink.Route {
	bits := a.BitLen()
	return &netlink.Route{Dst: &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(bits, bits)}, Type: unix.RTN_UNREACHABLE}
}
