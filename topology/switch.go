//go:build linux

package topology

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Switch says how a lab's bridges know which port a MAC address is behind.
//
// A learning bridge forgets the address of a port that has sent nothing
// for its ageing time (BR_DEFAULT_AGEING_TIME, 300 s, in the kernel's
// net/bridge/br_private.h) and from then on floods every frame for it to
// every port. In DR and TUN two ports only ever receive: the router's on
// the real servers' segment (it only gets their replies) and the
// director's on the client's segment (it only gets requests). So a lab
// with learning bridges floods every reply to every real server after
// five minutes of uptime, and never recovers, because those ports never
// send: the lab's throughput drifts with its age. Real switches do the
// same under asymmetric routing (unicast flooding, a known hazard of
// LVS-DR).
//
// By default lvslab therefore gives each bridge a static forwarding entry
// for the MAC address of every node's link on its segment ("bridge fdb add
// MAC dev PORT master static"): a lab built to measure forwarding knows
// where every address is, the entries never age, and frames go only where
// they are addressed from the first frame on. Learning stays on for
// anything else. An ageing time of 0 would not do: the kernel then expires
// every learned entry at once and the bridge floods like a hub.
type Switch struct {
	// Learning leaves the bridges to learn addresses from the frames each
	// port sends, like an unmanaged switch, without static entries.
	Learning bool `json:"learning,omitempty"`
	// AgeingTime is how long a learned entry lives; 0 keeps the kernel's
	// default (300 s).
	AgeingTime time.Duration `json:"ageing_time,omitempty"`
}

// Limits of an ageing time: the kernel keeps it in hundredths of a second
// in 32 bits.
const (
	MinAgeingTime = 10 * time.Millisecond
	MaxAgeingTime = 1_000_000 * time.Second
)

// WithSwitch sets how the lab's bridges forward (see Switch).
func WithSwitch(sw Switch) Option { return func(s *Spec) { s.Switch = sw } }

// String says how the bridges forward, as results record it.
func (sw Switch) String() string {
	ageing := "300s (the kernel's default)"
	if sw.AgeingTime > 0 {
		ageing = sw.AgeingTime.String()
	}
	if sw.Learning {
		return "learning bridges, ageing time " + ageing + ": a port that never sends is flooded to every port once its address ages out"
	}
	return "static forwarding entries for every node's link, ageing time " + ageing + ": no unicast flooding"
}

// CheckSwitch names what is wrong with a switch setting.
func CheckSwitch(sw Switch) error {
	if sw.AgeingTime != 0 && (sw.AgeingTime < MinAgeingTime || sw.AgeingTime > MaxAgeingTime) {
		return fmt.Errorf("switch ageing time %s: use 0 (the kernel's default, 300s) or %s to %s", sw.AgeingTime, MinAgeingTime, MaxAgeingTime)
	}
	return nil
}

// bridgeAgeing is the bridge's ageing time as the kernel takes it
// (IFLA_BR_AGEING_TIME, in clock_t: hundredths of a second), or nil for
// the kernel's default.
func (sw Switch) bridgeAgeing() *uint32 {
	if sw.AgeingTime == 0 {
		return nil
	}
	cs := uint32(sw.AgeingTime / (10 * time.Millisecond))
	return &cs
}

// pinAddresses gives every bridge a static entry for the MAC address of
// each node link on its segment, on the port that leads to it.
func (l *Lab) pinAddresses() error {
	if l.Spec.Switch.Learning {
		return nil
	}
	var errs []error
	for _, n := range l.Nodes {
		for _, ls := range n.Links {
			link, err := n.nl.LinkByName(ls.Dev())
			if err != nil {
				errs = append(errs, fmt.Errorf("find link %s in %s: %w", ls.Dev(), n.Namespace, err))
				continue
			}
			portName := n.Name + "-" + ls.Segment
			port, err := l.sw.nl.LinkByName(portName)
			if err != nil {
				errs = append(errs, fmt.Errorf("find bridge port %s in %s: %w", portName, l.sw.Namespace, err))
				continue
			}
			entry := &netlink.Neigh{LinkIndex: port.Attrs().Index, Family: unix.AF_BRIDGE, State: netlink.NUD_NOARP,
				Flags: netlink.NTF_MASTER, HardwareAddr: link.Attrs().HardwareAddr}
			if err := l.sw.nl.NeighSet(entry); err != nil {
				errs = append(errs, fmt.Errorf("static forwarding entry for %s (%s) on bridge %s: %w",
					link.Attrs().HardwareAddr, n.Name, ls.Segment, err))
			}
		}
	}
	return errors.Join(errs...)
}

// PortCounters are a bridge port's packet counters, read in the switch
// namespace: what the port's node sent (RxPackets, the bridge received
// them) and what the bridge sent it (TxPackets).
type PortCounters struct {
	RxPackets, TxPackets uint64
}

// Port reads the counters of the bridge port that leads to node's link on
// segment.
func (l *Lab) Port(node, segment string) (PortCounters, error) {
	link, err := l.sw.nl.LinkByName(node + "-" + segment)
	if err != nil {
		return PortCounters{}, fmt.Errorf("find bridge port %s-%s in %s: %w", node, segment, l.sw.Namespace, err)
	}
	s := link.Attrs().Statistics
	if s == nil {
		return PortCounters{}, fmt.Errorf("bridge port %s-%s has no statistics", node, segment)
	}
	return PortCounters{RxPackets: s.RxPackets, TxPackets: s.TxPackets}, nil
}

// StaticEntries lists the MAC addresses a segment's bridge holds static
// entries for.
func (l *Lab) StaticEntries(segment string) ([]string, error) {
	br, err := l.sw.nl.LinkByName(segment)
	if err != nil {
		return nil, fmt.Errorf("find bridge %s in %s: %w", segment, l.sw.Namespace, err)
	}
	entries, err := l.sw.nl.NeighList(0, unix.AF_BRIDGE)
	if err != nil {
		return nil, fmt.Errorf("list forwarding entries in %s: %w", l.sw.Namespace, err)
	}
	var out []string
	for _, e := range entries {
		// A dump names an entry once per device that reports it.
		if e.MasterIndex == br.Attrs().Index && e.State&netlink.NUD_NOARP != 0 && e.State&netlink.NUD_PERMANENT == 0 &&
			!slices.Contains(out, e.HardwareAddr.String()) {
			out = append(out, e.HardwareAddr.String())
		}
	}
	return out, nil
}

// SwitchFlag is the --switch flag of lvslab up and bench: static or learning.
type SwitchFlag struct{ Learning bool }

func (f *SwitchFlag) String() string {
	if f.Learning {
		return "learning"
	}
	return "static"
}

func (f *SwitchFlag) Set(s string) error {
	switch s {
	case "static", "learning":
		f.Learning = s == "learning"
		return nil
	}
	return errors.New("use static or learning")
}
