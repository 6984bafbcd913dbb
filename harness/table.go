//go:build linux

package harness

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"

	"github.com/lvslab/lvslab/topology"
)

var forwardNames = map[ForwardMethod]string{MethodNAT: "Masq", MethodDR: "Route", MethodTUN: "Tunnel"}

// WriteTable prints the IPVS table as "ipvsadm -Ln" does, or as
// "ipvsadm -Ln --stats" with stats, line for line, so that either can be
// read against the other. header is the first line of /proc/net/ip_vs.
func WriteTable(w io.Writer, header string, services []ServiceState, stats bool) {
	fmt.Fprintln(w, header)
	if stats {
		fmt.Fprintf(w, "%-33s %8s %8s %8s %8s %8s\n", "Prot LocalAddress:Port", "Conns", "InPkts", "OutPkts", "InBytes", "OutBytes")
		fmt.Fprintln(w, "  -> RemoteAddress:Port")
	} else {
		fmt.Fprintln(w, "Prot LocalAddress:Port Scheduler Flags")
		fmt.Fprintln(w, "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn")
	}
	for _, s := range services {
		name := serviceName(s)
		if stats {
			fmt.Fprintf(w, "%-33s %8s %8s %8s %8s %8s\n", name, num(uint64(s.Stats.Connections)), num(uint64(s.Stats.PacketsIn)),
				num(uint64(s.Stats.PacketsOut)), num(s.Stats.BytesIn), num(s.Stats.BytesOut))
		} else {
			fmt.Fprintf(w, "%s %s%s\n", name, s.Scheduler, serviceFlags(s))
		}
		for _, r := range s.Reals {
			addr := hostPort(r.Addr, r.Port)
			if stats {
				fmt.Fprintf(w, "  -> %-28s %8s %8s %8s %8s %8s\n", addr, num(uint64(r.Stats.Connections)), num(uint64(r.Stats.PacketsIn)),
					num(uint64(r.Stats.PacketsOut)), num(r.Stats.BytesIn), num(r.Stats.BytesOut))
			} else {
				fmt.Fprintf(w, "  -> %-28s %-7s %-6d %-10d %-10d\n", addr, forwardNames[r.Method], r.Weight, r.Active, r.Inactive)
			}
		}
	}
}

func serviceName(s ServiceState) string {
	if s.FWMark != 0 {
		if s.Addr.Is6() {
			return fmt.Sprintf("FWM  %d IPv6", s.FWMark)
		}
		return fmt.Sprintf("FWM  %d", s.FWMark)
	}
	return strings.ToUpper(s.Protocol) + "  " + hostPort(s.Addr, s.Port)
}

func hostPort(a netip.Addr, port uint16) string {
	return netip.AddrPortFrom(a, port).String()
}

func serviceFlags(s ServiceState) string {
	var b strings.Builder
	if s.Persistent {
		fmt.Fprintf(&b, " persistent %d", int(s.Persistence.Seconds()))
		if s.Addr.Is4() && s.PersistenceBits != 32 {
			fmt.Fprintf(&b, " mask %s", ipv4Mask(s.PersistenceBits))
		} else if !s.Addr.Is4() && s.PersistenceBits != 128 {
			fmt.Fprintf(&b, " mask %d", s.PersistenceBits)
		}
	}
	if s.Flags&FlagOnePacket != 0 {
		b.WriteString(" ops")
	}
	return b.String()
}

func ipv4Mask(bits int) string {
	m := uint32(0xffffffff) << (32 - bits)
	return fmt.Sprintf("%d.%d.%d.%d", m>>24, m>>16&0xff, m>>8&0xff, m&0xff)
}

// num prints a counter as ipvsadm does: exact below 10^8, then scaled.
func num(n uint64) string {
	switch {
	case n < 100000000:
		return fmt.Sprint(n)
	case n < 100000000000:
		return fmt.Sprintf("%dK", n/1000)
	case n < 100000000000000:
		return fmt.Sprintf("%dM", n/1000000)
	}
	return fmt.Sprintf("%dG", n/1000000000)
}

// Table reads the director's IPVS table and /proc/net/ip_vs's first line,
// what WriteTable prints.
func (d *Director) Table() ([]ServiceState, string, error) {
	svcs, err := d.Services()
	if err != nil {
		return nil, "", err
	}
	header, err := IPVSHeader(d.Node)
	return svcs, header, err
}

// IPVSHeader is the first line of /proc/net/ip_vs as the director sees it
// ("IP Virtual Server version 1.2.1 (size=4096)").
func IPVSHeader(director *topology.Node) (string, error) {
	var line string
	err := director.Do(func() error {
		data, err := os.ReadFile("/proc/thread-self/net/ip_vs")
		if err != nil {
			return fmt.Errorf("read IPVS version: %w", err)
		}
		line, _, _ = strings.Cut(string(data), "\n")
		return nil
	})
	return line, err
}
