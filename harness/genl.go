//go:build linux

package harness

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/lvslab/lvslab/topology"
)

// IPVS's generic netlink family (include/uapi/linux/ip_vs.h).
const (
	ipvsGenlName    = "IPVS"
	ipvsGenlVersion = 1
)

// IPVSNetlink is a generic netlink socket opened inside a node's
// namespace and bound to the kernel's IPVS family, for what moby/ipvs
// has no API for: sync daemons, and loading whole rule files. It is
// written with the netlink package moby/ipvs itself is built on
// (vishvananda/netlink's nl), one dependency for both.
type IPVSNetlink struct {
	sock   *nl.SocketHandle
	family uint16
}

// OpenIPVSNetlink opens one in the node's namespace.
func OpenIPVSNetlink(n *topology.Node) (*IPVSNetlink, error) {
	ns, err := netns.GetFromPath(n.NsPath())
	if err != nil {
		return nil, fmt.Errorf("open namespace %s: %w", n.Namespace, err)
	}
	defer ns.Close()
	sock, err := nl.GetNetlinkSocketAt(ns, netns.None(), unix.NETLINK_GENERIC)
	if err != nil {
		return nil, fmt.Errorf("open generic netlink in %s: %w", n.Namespace, err)
	}
	// One handle, so one sequence: a reply left over from an earlier
	// request never passes for the answer to a later one.
	h := &nl.SocketHandle{Socket: sock}
	family, err := ipvsFamily(h)
	if err != nil {
		sock.Close()
		return nil, err
	}
	return &IPVSNetlink{sock: h, family: family}, nil
}

// Execute sends one IPVS command (IPVS_CMD_*) with its attributes and
// returns the replies. Without NLM_F_DUMP in flags it asks for an
// acknowledgement, which carries the command's error.
func (s *IPVSNetlink) Execute(cmd uint8, flags int, attrs ...nl.NetlinkRequestData) ([][]byte, error) {
	if flags&unix.NLM_F_DUMP == 0 {
		flags |= unix.NLM_F_ACK
	}
	req := nl.NewNetlinkRequest(int(s.family), flags)
	req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_GENERIC: s.sock}
	req.AddData(&nl.Genlmsg{Command: cmd, Version: ipvsGenlVersion})
	for _, a := range attrs {
		req.AddData(a)
	}
	return req.Execute(unix.NETLINK_GENERIC, 0)
}

// Close closes the socket.
func (s *IPVSNetlink) Close() { s.sock.Close() }

// ipvsFamily asks the generic netlink controller for the IPVS family's id
// (no NLM_F_ACK: the answer is the acknowledgement).
func ipvsFamily(h *nl.SocketHandle) (uint16, error) {
	req := nl.NewNetlinkRequest(unix.GENL_ID_CTRL, 0)
	req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_GENERIC: h}
	req.AddData(&nl.Genlmsg{Command: nl.GENL_CTRL_CMD_GETFAMILY, Version: nl.GENL_CTRL_VERSION})
	req.AddData(nl.NewRtAttr(nl.GENL_CTRL_ATTR_FAMILY_NAME, nl.ZeroTerminated(ipvsGenlName)))
	msgs, err := req.Execute(unix.NETLINK_GENERIC, 0)
	if err != nil {
		return 0, fmt.Errorf("find the IPVS generic netlink family (is ip_vs loaded?): %w", err)
	}
	for _, m := range msgs {
		attrs, err := nl.ParseRouteAttr(m[nl.SizeofGenlmsg:])
		if err != nil {
			return 0, err
		}
		for _, a := range attrs {
			if a.Attr.Type == nl.GENL_CTRL_ATTR_FAMILY_ID {
				return nl.NativeEndian().Uint16(a.Value), nil
			}
		}
	}
	return 0, errors.New("the generic netlink controller did not name the IPVS family's id")
}
