//go:build linux

package ipvsadm

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"syscall"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/lvslab/lvslab/harness"
)

// IPVS's generic netlink commands and attributes
// (include/uapi/linux/ip_vs.h). Restore writes its own messages rather
// than going through moby/ipvs, which sends no real-server family,
// tunnel type or persistence engine, and no SCTP.
const (
	ipvsCmdNewService = 1
	ipvsCmdDelService = 3
	ipvsCmdNewDest    = 5
	ipvsCmdSetConfig  = 12
	ipvsCmdFlush      = 17

	attrService       = 1
	attrDest          = 2
	attrTimeoutTCP    = 4
	attrTimeoutTCPFin = 5
	attrTimeoutUDP    = 6

	svcAttrAF        = 1
	svcAttrProtocol  = 2
	svcAttrAddr      = 3
	svcAttrPort      = 4
	svcAttrFWMark    = 5
	svcAttrSchedName = 6
	svcAttrFlags     = 7
	svcAttrTimeout   = 8
	svcAttrNetmask   = 9
	svcAttrPEName    = 11

	destAttrAddr      = 1
	destAttrPort      = 2
	destAttrFwdMethod = 3
	destAttrWeight    = 4
	destAttrUThresh   = 5
	destAttrLThresh   = 6
	destAttrAF        = 11
	destAttrTunType   = 13
	destAttrTunPort   = 14
	destAttrTunFlags  = 15
)

// IP_VS_CONN_F_* forwarding methods, IP_VS_CONN_F_TUNNEL_TYPE_* and
// IP_VS_TUNNEL_ENCAP_FLAG_*.
var (
	fwdMethods   = map[harness.ForwardMethod]uint32{harness.MethodNAT: 0, harness.MethodTUN: 2, harness.MethodDR: 3}
	tunnelTypes  = map[string]uint8{"": 0, TunnelIPIP: 0, TunnelGUE: 1, TunnelGRE: 2}
	tunnelCsums  = map[string]uint16{"": 0, ChecksumOn: 1, ChecksumRemote: 2}
	ipProtocols  = map[string]uint16{"tcp": unix.IPPROTO_TCP, "udp": unix.IPPROTO_UDP, "sctp": unix.IPPROTO_SCTP}
	progressStep = 1000
)

// RestoreOptions tune Restore.
type RestoreOptions struct {
	// Progress, when set, is told how many of the table's services and
	// real servers are loaded: every thousand, and at the end.
	Progress func(done, total int)
}

// Restore loads the table into the director's IPVS: after clearing it if
// the table has a -C line, each service and then its real servers, one
// netlink request each on a socket of its own inside the director's
// namespace, then the --set timeouts. A request the kernel refuses stops
// it with a *LineError naming the rule's line; the services it added are
// then removed again. Sync daemon lines and other findings are not
// loaded.
//
// One request at a time, as ipvsadm -R and moby/ipvs send them, is fast
// enough: KubernetesScale (25,000 rules) loads into a new lab's director
// in 2.6 to 5.2 s in the TCG VM (debian-6.1), ipvsadm -R in 14 s
// (experiments/rules-restore). Into a table just cleared of the same
// rules it takes 33 s: the kernel searches its trash of deleted real
// servers (ip_vs_trash_get_dest) on every add.
func Restore(ctx context.Context, d *harness.Director, t *Table, opt RestoreOptions) (err error) {
	if err := t.checkLoadable(); err != nil {
		return err
	}
	s, err := harness.OpenIPVSNetlink(d.Node)
	if err != nil {
		return err
	}
	defer s.Close()
	if t.Flush {
		if _, err := s.Execute(ipvsCmdFlush, 0); err != nil {
			return fmt.Errorf("%s: clear the IPVS table of %s (-C): %w", t.File, d.Node.Name, err)
		}
	}
	var added []*nl.RtAttr
	defer func() {
		if err == nil {
			return
		}
		for _, id := range added {
			if _, derr := s.Execute(ipvsCmdDelService, 0, id); derr != nil {
				err = errors.Join(err, fmt.Errorf("remove the services restored before the error: %w", derr))
				return
			}
		}
	}()
	_, total := t.Counts()
	total += len(t.Services)
	done := 0
	step := func() {
		done++
		if opt.Progress != nil && (done%progressStep == 0 || done == total) {
			opt.Progress(done, total)
		}
	}
	for _, svc := range t.Services {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%s: restore stopped at line %d: %w", t.File, svc.Line, err)
		}
		if _, err := s.Execute(ipvsCmdNewService, 0, serviceAttr(svc, true)); err != nil {
			return &LineError{File: t.File, Line: svc.Line, Msg: fmt.Sprintf("the kernel refused service %s: %s", svc.Key(), serviceHint(svc, err)), Err: err}
		}
		id := serviceAttr(svc, false)
		added = append(added, id)
		step()
		for _, r := range svc.Reals {
			if _, err := s.Execute(ipvsCmdNewDest, 0, id, realAttr(r)); err != nil {
				return &LineError{File: t.File, Line: r.Line, Msg: fmt.Sprintf("the kernel refused real server %s of %s: %s", hostPort(r.Addr, r.Port), svc.Key(), realHint(err)), Err: err}
			}
			step()
		}
	}
	if t.Timeouts != nil {
		if _, err := s.Execute(ipvsCmdSetConfig, 0, timeoutAttrs(t.Timeouts)...); err != nil {
			return &LineError{File: t.File, Line: t.Timeouts.Line, Msg: "the kernel refused the timeouts (--set)", Err: err}
		}
	}
	return nil
}

// checkLoadable refuses, before anything is sent, what a table built by
// hand rather than by Parse may hold and the kernel would misread.
func (t *Table) checkLoadable() error {
	bad := func(line int, format string, args ...any) error {
		return &LineError{File: t.File, Line: line, Msg: fmt.Sprintf(format, args...)}
	}
	for _, s := range t.Services {
		if _, ok := ipProtocols[s.Protocol]; s.FWMark == 0 && (!ok || !s.Addr.IsValid()) {
			return bad(s.Line, "service %s: a service has a protocol (tcp, udp, sctp) and an address, or a firewall mark", s.Key())
		}
		if s.Scheduler == "" {
			return bad(s.Line, "service %s has no scheduler", s.Key())
		}
		for _, r := range s.Reals {
			_, method := fwdMethods[r.Method]
			_, tunnel := tunnelTypes[r.Tunnel.Type]
			switch {
			case !method:
				return bad(r.Line, "real server %s of %s: forwarding method %q is none of nat, dr, tun", r.Addr, s.Key(), r.Method)
			case r.Method == harness.MethodTUN && !tunnel:
				return bad(r.Line, "real server %s of %s: tunnel type %q is none of ipip, gue, gre", r.Addr, s.Key(), r.Tunnel.Type)
			case !r.Addr.IsValid() || r.Addr.Is6() != s.Addr.Is6() && r.Method != harness.MethodTUN:
				return bad(r.Line, "real server %s of %s: a real server has an address of the service's family (only tunnelling crosses them)", r.Addr, s.Key())
			}
		}
	}
	return nil
}

// serviceAttr is the service as IPVS_CMD_ATTR_SERVICE: all of it (full,
// for a new service) or what identifies it (to add a real server to it,
// or delete it).
func serviceAttr(s *Service, full bool) *nl.RtAttr {
	a := nl.NewRtAttr(attrService, nil)
	a.AddRtAttr(svcAttrAF, nl.Uint16Attr(family(s.Addr)))
	if s.FWMark != 0 {
		a.AddRtAttr(svcAttrFWMark, nl.Uint32Attr(s.FWMark))
	} else {
		a.AddRtAttr(svcAttrProtocol, nl.Uint16Attr(ipProtocols[s.Protocol]))
		a.AddRtAttr(svcAttrAddr, s.Addr.AsSlice())
		a.AddRtAttr(svcAttrPort, bigEndian16(s.Port))
	}
	if !full {
		return a
	}
	a.AddRtAttr(svcAttrSchedName, nl.ZeroTerminated(s.Scheduler))
	if s.PE != "" {
		a.AddRtAttr(svcAttrPEName, nl.ZeroTerminated(s.PE))
	}
	flags := s.Flags &^ harness.FlagPersistent
	if s.Persistence > 0 {
		flags |= harness.FlagPersistent
	}
	// struct ip_vs_flags: the flags, then the mask of those to set.
	a.AddRtAttr(svcAttrFlags, append(nl.Uint32Attr(flags), nl.Uint32Attr(^uint32(0))...))
	a.AddRtAttr(svcAttrTimeout, nl.Uint32Attr(uint32(seconds(s.Persistence))))
	// The netmask is an IPv4 mask in network order, or an IPv6 prefix
	// length in host order (ipvsadm's libipvs sends them so).
	if s.Addr.Is6() {
		a.AddRtAttr(svcAttrNetmask, nl.Uint32Attr(uint32(s.bits())))
	} else {
		a.AddRtAttr(svcAttrNetmask, binary.BigEndian.AppendUint32(nil, ^uint32(0)<<(32-s.bits())))
	}
	return a
}

// realAttr is the real server as IPVS_CMD_ATTR_DEST.
func realAttr(r *Real) *nl.RtAttr {
	a := nl.NewRtAttr(attrDest, nil)
	a.AddRtAttr(destAttrAddr, r.Addr.AsSlice())
	a.AddRtAttr(destAttrPort, bigEndian16(r.Port))
	a.AddRtAttr(destAttrAF, nl.Uint16Attr(family(r.Addr)))
	a.AddRtAttr(destAttrFwdMethod, nl.Uint32Attr(fwdMethods[r.Method]))
	a.AddRtAttr(destAttrWeight, nl.Uint32Attr(uint32(r.Weight)))
	a.AddRtAttr(destAttrUThresh, nl.Uint32Attr(r.UpperThreshold))
	a.AddRtAttr(destAttrLThresh, nl.Uint32Attr(r.LowerThreshold))
	if r.Method == harness.MethodTUN {
		a.AddRtAttr(destAttrTunType, nl.Uint8Attr(tunnelTypes[r.Tunnel.Type]))
		a.AddRtAttr(destAttrTunPort, bigEndian16(r.Tunnel.Port))
		a.AddRtAttr(destAttrTunFlags, nl.Uint16Attr(tunnelCsums[r.Tunnel.Checksum]))
	}
	return a
}

func timeoutAttrs(t *Timeouts) []nl.NetlinkRequestData {
	var out []nl.NetlinkRequestData
	for _, to := range []struct {
		attr int
		secs int64
	}{{attrTimeoutTCP, seconds(t.TCP)}, {attrTimeoutTCPFin, seconds(t.TCPFin)}, {attrTimeoutUDP, seconds(t.UDP)}} {
		if to.secs > 0 {
			out = append(out, nl.NewRtAttr(to.attr, nl.Uint32Attr(uint32(to.secs))))
		}
	}
	return out
}

func family(a netip.Addr) uint16 {
	if a.Is6() {
		return unix.AF_INET6
	}
	return unix.AF_INET
}

func bigEndian16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

// serviceHint says what a refused service's error means (ipvsadm's
// ipvs_strerror, net/netfilter/ipvs/ip_vs_ctl.c).
func serviceHint(s *Service, err error) string {
	switch {
	case errors.Is(err, syscall.EEXIST):
		return "the director already has it: restore into a director without it, or start the file with -C"
	case errors.Is(err, syscall.ENOENT) && s.PE != "":
		return fmt.Sprintf("this kernel has no scheduler %s (ip_vs_%s) or persistence engine %s (ip_vs_pe_%s): use ones it has", s.Scheduler, s.Scheduler, s.PE, s.PE)
	case errors.Is(err, syscall.ENOENT):
		return fmt.Sprintf("this kernel has no scheduler %s (module ip_vs_%s): use one it has (rr, wrr, lc, wlc, sh, mh, …)", s.Scheduler, s.Scheduler)
	case errors.Is(err, syscall.EAFNOSUPPORT):
		return "this kernel's IPVS has no IPv6"
	}
	return "see dmesg for the kernel's reason"
}

func realHint(err error) string {
	switch {
	case errors.Is(err, syscall.EEXIST):
		return "the director already has it: restore into a director without the service, or start the file with -C"
	case errors.Is(err, syscall.ERANGE):
		return "its weight or thresholds are out of the kernel's range"
	case errors.Is(err, syscall.EAFNOSUPPORT), errors.Is(err, syscall.EINVAL):
		return "this kernel does not take it (an older kernel lacks tunnel types and mixed families): see dmesg"
	}
	return "see dmesg for the kernel's reason"
}
