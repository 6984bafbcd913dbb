//go:build linux

package ipvsadm

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/lvslab/lvslab/harness"
)

// Write writes the table as "ipvsadm -S -n" does (ipvsadm.c,
// print_service_entry with FMT_RULE), in the table's order, so that
// ipvsadm -R and Parse read it back to an equal table. It also writes
// what ipvsadm -S cannot know or leaves out: -C first for Flush, --set for
// Timeouts, and -x/-y thresholds.
func Write(w io.Writer, t *Table) error {
	b := bufio.NewWriter(w)
	if t.Flush {
		b.WriteString("-C\n")
	}
	for _, s := range t.Services {
		name := serviceArg(s.Service)
		fmt.Fprintf(b, "-A %s -s %s", name, s.Scheduler)
		if s.Persistence > 0 {
			fmt.Fprintf(b, " -p %d", seconds(s.Persistence))
			if bits := s.PersistenceBits; bits != 0 && bits != familyBits(s.Addr) {
				if s.Addr.Is6() {
					fmt.Fprintf(b, " -M %d", bits)
				} else {
					fmt.Fprintf(b, " -M %s", ipv4Mask(bits))
				}
			}
		}
		if s.PE != "" {
			fmt.Fprintf(b, " --pe %s", s.PE)
		}
		if s.Flags&harness.FlagOnePacket != 0 {
			b.WriteString(" -o")
		}
		if f := schedFlagNames(s.Scheduler, s.Flags); f != "" {
			fmt.Fprintf(b, " -b %s", f)
		}
		b.WriteString("\n")
		for _, r := range s.Reals {
			fmt.Fprintf(b, "-a %s -r %s %s -w %d", name, hostPort(r.Addr, r.Port), methodSwitch[r.Method], r.Weight)
			if r.Method == harness.MethodTUN {
				b.WriteString(tunnelArgs(r.Tunnel))
			}
			if r.UpperThreshold != 0 {
				fmt.Fprintf(b, " -x %d", r.UpperThreshold)
			}
			if r.LowerThreshold != 0 {
				fmt.Fprintf(b, " -y %d", r.LowerThreshold)
			}
			b.WriteString("\n")
		}
	}
	if to := t.Timeouts; to != nil {
		fmt.Fprintf(b, "--set %d %d %d\n", seconds(to.TCP), seconds(to.TCPFin), seconds(to.UDP))
	}
	return b.Flush()
}

var methodSwitch = map[harness.ForwardMethod]string{harness.MethodNAT: "-m", harness.MethodDR: "-g", harness.MethodTUN: "-i"}

// serviceArg names a service as ipvsadm -S does: -t ADDR:PORT, -u …,
// --sctp-service …, -f MARK [-6].
func serviceArg(s harness.Service) string {
	if s.FWMark != 0 {
		if s.Addr.Is6() {
			return fmt.Sprintf("-f %d -6", s.FWMark)
		}
		return fmt.Sprintf("-f %d", s.FWMark)
	}
	sw := map[string]string{"tcp": "-t", "udp": "-u", "sctp": "--sctp-service"}[s.Protocol]
	if sw == "" {
		sw = "-t"
	}
	return sw + " " + hostPort(s.Addr, s.Port)
}

// tunnelArgs are a tunnelled real server's options as ipvsadm -S writes
// them (print_tunnel_rule).
func tunnelArgs(t Tunnel) string {
	typ := t.Type
	if typ == "" {
		typ = TunnelIPIP
	}
	s := " --tun-type " + typ
	if typ == TunnelGUE {
		s += fmt.Sprintf(" --tun-port %d", t.Port)
	}
	if typ != TunnelIPIP {
		s += map[string]string{"": " --tun-nocsum", ChecksumOn: " --tun-csum", ChecksumRemote: " --tun-remcsum"}[t.Checksum]
	}
	return s
}

// schedFlagNames names the scheduler flags as ipvsadm's print_sched_flags
// does: sh's and mh's by their meaning, others' by number.
func schedFlagNames(sched string, flags uint32) string {
	names := []string{"flag-1", "flag-2", "flag-3"}
	if sched == "sh" || sched == "mh" {
		names[0], names[1] = sched+"-fallback", sched+"-port"
	}
	var out []string
	for i, bit := range []uint32{FlagSched1, FlagSched2, FlagSched3} {
		if flags&bit != 0 {
			out = append(out, names[i])
		}
	}
	return strings.Join(out, ",")
}

func familyBits(a netip.Addr) int {
	if a.Is6() {
		return 128
	}
	return 32
}

func ipv4Mask(bits int) string {
	m := ^uint32(0) << (32 - bits)
	return netip.AddrFrom4([4]byte{byte(m >> 24), byte(m >> 16), byte(m >> 8), byte(m)}).String()
}

// seconds is a duration in the whole seconds ipvsadm speaks in.
func seconds(d time.Duration) int64 { return int64(d / time.Second) }
