//go:build linux

package harness

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// The IPVS connection-synchronisation daemon, driven over the kernel's
// generic netlink family "IPVS" (include/uapi/linux/ip_vs.h,
// net/netfilter/ipvs/ip_vs_ctl.c) on an IPVSNetlink socket inside the
// director's namespace, which is where the daemon lives: moby/ipvs has
// these command numbers but no API for them.
const (
	ipvsCmdNewDaemon = 9
	ipvsCmdGetDaemon = 11

	ipvsCmdAttrDaemon = 3

	ipvsDaemonAttrState       = 1
	ipvsDaemonAttrMcastIfn    = 2
	ipvsDaemonAttrSyncID      = 3
	ipvsDaemonAttrSyncMaxLen  = 4
	ipvsDaemonAttrMcastGroup  = 5
	ipvsDaemonAttrMcastGroup6 = 6
	ipvsDaemonAttrMcastPort   = 7
	ipvsDaemonAttrMcastTTL    = 8

	ipvsStateMaster = 1
	ipvsStateBackup = 2
)

// Sync daemon roles, as ipvsadm names them.
const (
	SyncMaster = "master"
	SyncBackup = "backup"
)

// SyncDaemon is one IPVS sync daemon of a namespace: a master sends the
// connections it schedules to a multicast group, a backup adds what it
// hears to its own table. A namespace runs at most one of each.
type SyncDaemon struct {
	// State is SyncMaster or SyncBackup.
	State string `json:"state"`
	// Interface sends (master) or receives (backup) the multicast; it
	// needs an IPv4 address.
	Interface string `json:"interface"`
	// SyncID tells a backup which master's messages to take (0: any).
	SyncID int `json:"syncid"`
	// MaxLen, Group, Port and TTL are left to the kernel when zero:
	// 1472 bytes (the interface's MTU less headers), 224.0.0.81:8848, TTL 1.
	MaxLen int        `json:"maxlen"`
	Group  netip.Addr `json:"group"`
	Port   int        `json:"port"`
	TTL    int        `json:"ttl"`
}

func (s SyncDaemon) state() (uint32, error) {
	switch s.State {
	case SyncMaster:
		return ipvsStateMaster, nil
	case SyncBackup:
		return ipvsStateBackup, nil
	}
	return 0, fmt.Errorf("sync daemon state %q: use %s or %s", s.State, SyncMaster, SyncBackup)
}

// String is the daemon as "ipvsadm -L --daemon" prints it.
func (s SyncDaemon) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s sync daemon (mcast=%s, syncid=%d", s.State, s.Interface, s.SyncID)
	if s.MaxLen != 0 {
		fmt.Fprintf(&b, ", maxlen=%d", s.MaxLen)
	}
	if s.Group.IsValid() {
		fmt.Fprintf(&b, ", group=%s", s.Group)
	}
	if s.Port != 0 {
		fmt.Fprintf(&b, ", port=%d", s.Port)
	}
	if s.TTL != 0 {
		fmt.Fprintf(&b, ", ttl=%d", s.TTL)
	}
	b.WriteString(")")
	return b.String()
}

// WriteDaemons prints the daemons as "ipvsadm -L --daemon" does, line for
// line, master first.
func WriteDaemons(w io.Writer, daemons []SyncDaemon) {
	for _, want := range []string{SyncMaster, SyncBackup} {
		for _, d := range daemons {
			if d.State == want {
				fmt.Fprintln(w, d)
			}
		}
	}
}

// StartSyncDaemon starts a sync daemon in the director's namespace. The
// kernel refuses a second daemon of the same role (EEXIST), however it was
// started (ipvsadm, keepalived's lvs_sync_daemon or this).
func (d *Director) StartSyncDaemon(s SyncDaemon) error {
	state, err := s.state()
	if err != nil {
		return err
	}
	if s.Interface == "" {
		return errors.New("sync daemon: no interface: give the link that carries its multicast (it needs an IPv4 address)")
	}
	attr := nl.NewRtAttr(ipvsCmdAttrDaemon, nil)
	attr.AddRtAttr(ipvsDaemonAttrState, nl.Uint32Attr(state))
	attr.AddRtAttr(ipvsDaemonAttrMcastIfn, nl.ZeroTerminated(s.Interface))
	attr.AddRtAttr(ipvsDaemonAttrSyncID, nl.Uint32Attr(uint32(s.SyncID)))
	if s.MaxLen != 0 {
		attr.AddRtAttr(ipvsDaemonAttrSyncMaxLen, nl.Uint16Attr(uint16(s.MaxLen)))
	}
	if s.Group.Is4() {
		attr.AddRtAttr(ipvsDaemonAttrMcastGroup, s.Group.AsSlice())
	} else if s.Group.Is6() {
		attr.AddRtAttr(ipvsDaemonAttrMcastGroup6, s.Group.AsSlice())
	}
	if s.Port != 0 {
		attr.AddRtAttr(ipvsDaemonAttrMcastPort, nl.Uint16Attr(uint16(s.Port)))
	}
	if s.TTL != 0 {
		attr.AddRtAttr(ipvsDaemonAttrMcastTTL, nl.Uint8Attr(uint8(s.TTL)))
	}
	if _, err := d.genl(ipvsCmdNewDaemon, 0, attr); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("start %s sync daemon in %s: one is already running (one master and one backup per namespace: stop it first with ipvsadm --stop-daemon %s in that namespace): %w", s.State, d.Node.Name, s.State, err)
		}
		return fmt.Errorf("start %s sync daemon in %s on %s: %w", s.State, d.Node.Name, s.Interface, err)
	}
	return nil
}

// SyncDaemons reads the director's running sync daemons, master first.
func (d *Director) SyncDaemons() ([]SyncDaemon, error) {
	msgs, err := d.genl(ipvsCmdGetDaemon, unix.NLM_F_DUMP, nil)
	if err != nil {
		return nil, fmt.Errorf("read sync daemons of %s: %w", d.Node.Name, err)
	}
	var out []SyncDaemon
	for _, m := range msgs {
		s, err := parseDaemon(m)
		if err != nil {
			return nil, fmt.Errorf("read sync daemons of %s: %w", d.Node.Name, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// parseDaemon reads one IPVS_CMD_NEW_DAEMON reply (generic netlink header
// first).
func parseDaemon(msg []byte) (SyncDaemon, error) {
	var s SyncDaemon
	if len(msg) < nl.SizeofGenlmsg {
		return s, errors.New("short generic netlink message")
	}
	attrs, err := nl.ParseRouteAttr(msg[nl.SizeofGenlmsg:])
	if err != nil {
		return s, err
	}
	for _, a := range attrs {
		if a.Attr.Type&^unix.NLA_F_NESTED != ipvsCmdAttrDaemon {
			continue
		}
		inner, err := nl.ParseRouteAttr(a.Value)
		if err != nil {
			return s, err
		}
		native := nl.NativeEndian()
		for _, x := range inner {
			v := x.Value
			switch x.Attr.Type {
			case ipvsDaemonAttrState:
				switch native.Uint32(v) {
				case ipvsStateMaster:
					s.State = SyncMaster
				case ipvsStateBackup:
					s.State = SyncBackup
				}
			case ipvsDaemonAttrMcastIfn:
				s.Interface = strings.TrimRight(string(v), "\x00")
			case ipvsDaemonAttrSyncID:
				s.SyncID = int(native.Uint32(v))
			case ipvsDaemonAttrSyncMaxLen:
				s.MaxLen = int(native.Uint16(v))
			case ipvsDaemonAttrMcastGroup, ipvsDaemonAttrMcastGroup6:
				s.Group, _ = netip.AddrFromSlice(v)
			case ipvsDaemonAttrMcastPort:
				s.Port = int(native.Uint16(v))
			case ipvsDaemonAttrMcastTTL:
				s.TTL = int(v[0])
			}
		}
	}
	if s.State == "" {
		return s, errors.New("a daemon reply without a state")
	}
	return s, nil
}

// genl sends one IPVS generic netlink command on the director's socket
// inside its namespace and returns the replies.
func (d *Director) genl(cmd uint8, flags int, attr *nl.RtAttr) ([][]byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.genlSock == nil {
		s, err := OpenIPVSNetlink(d.Node)
		if err != nil {
			return nil, err
		}
		d.genlSock, d.genlFamily = s.sock, s.family
	}
	s := &IPVSNetlink{sock: d.genlSock, family: d.genlFamily}
	if attr == nil {
		return s.Execute(cmd, flags)
	}
	return s.Execute(cmd, flags, attr)
}

// Conn is one entry of a director's IPVS connection table.
type Conn struct {
	Protocol string         `json:"protocol"`
	Client   netip.AddrPort `json:"client"`
	Virtual  netip.AddrPort `json:"virtual"`
	Dest     netip.AddrPort `json:"dest"`
	State    string         `json:"state"`
	// Origin is "LOCAL" for a connection this director scheduled and
	// "SYNC" for one its backup sync daemon learned.
	Origin  string `json:"origin"`
	Expires int    `json:"expires_s"`
}

// Connections reads the director's connection table as the kernel lists
// it in /proc/net/ip_vs_conn_sync (what ipvsadm -Lnc shows, with each
// entry's origin). IPVS has no netlink request for it.
func (d *Director) Connections() ([]Conn, error) {
	var data []byte
	err := d.Node.Do(func() (err error) {
		data, err = os.ReadFile("/proc/thread-self/net/ip_vs_conn_sync")
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read the connection table of %s: %w", d.Node.Name, err)
	}
	return parseConns(string(data))
}

// parseConns reads the table: a header, then "TCP C6336464 9C40 CB00710A
// 0050 C000020B 0050 ESTABLISHED SYNC 899" (IPv4 in hex; IPv6 written
// out).
func parseConns(text string) ([]Conn, error) {
	lines := strings.Split(strings.TrimSpace(text), "\n")
	var out []Conn
	for _, line := range lines[1:] {
		f := strings.Fields(line)
		if len(f) < 10 {
			continue
		}
		var ap [3]netip.AddrPort
		for i := range ap {
			a, err := procAddr(f[1+2*i])
			if err != nil {
				return nil, fmt.Errorf("connection table line %q: %w", line, err)
			}
			port, err := strconv.ParseUint(f[2+2*i], 16, 16)
			if err != nil {
				return nil, fmt.Errorf("connection table line %q: port %q", line, f[2+2*i])
			}
			ap[i] = netip.AddrPortFrom(a, uint16(port))
		}
		exp, _ := strconv.Atoi(f[9])
		out = append(out, Conn{Protocol: f[0], Client: ap[0], Virtual: ap[1], Dest: ap[2], State: f[7], Origin: f[8], Expires: exp})
	}
	return out, nil
}

// procAddr reads an address of the connection table: 8 hex digits for
// IPv4, the written-out form for IPv6.
func procAddr(s string) (netip.Addr, error) {
	if len(s) == 8 && !strings.Contains(s, ":") {
		v, err := strconv.ParseUint(s, 16, 32)
		if err != nil {
			return netip.Addr{}, err
		}
		return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), nil
	}
	return netip.ParseAddr(s)
}
