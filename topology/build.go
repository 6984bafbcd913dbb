//go:build linux

package topology

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// switchNode is the namespace that holds a lab's bridges.
const switchNode = "sw"

// Lab is a built lab: its namespaces, ready to be served and loaded.
type Lab struct {
	Spec   *Spec
	Nodes  []*Node
	sw     *Node
	byName map[string]*Node
	// lock is the lab's lock while this process builds it and until it
	// detaches from or closes the lab it built.
	lock *labLock
}

// Build validates spec, records the lab and creates its namespaces, bridges,
// veth pairs, addresses, routes and sysctls. On error nothing is left.
func Build(ctx context.Context, spec *Spec) (lab *Lab, err error) {
	p, err := Plan(spec)
	if err != nil {
		return nil, err
	}
	st := &State{Lab: p.Name, Created: time.Now().UTC(), Spec: p, Namespaces: []string{namespaceName(p.Name, switchNode)}}
	for _, n := range p.Nodes {
		st.Namespaces = append(st.Namespaces, namespaceName(p.Name, n.Name))
	}
	// A fact of this host, not of the spec: Plan cannot check it.
	if err := checkOnline(p); err != nil {
		return nil, err
	}
	if err := checkPrivileges(); err != nil {
		return nil, err
	}
	lock, err := claimState(st)
	if err != nil {
		return nil, err
	}
	made := []string{} // not nil: nil would mean every recorded namespace
	defer func() {
		if err != nil {
			if lab != nil {
				lab.release()
			}
			lab = nil
			err = errors.Join(err, removeLocked(p.Name, made))
			lock.release()
		}
	}()
	if err := checkNamespacesFree(st.Namespaces); err != nil {
		return nil, err
	}
	var created []string
	created, err = createNamespaces(st.Namespaces)
	made = append(made, created...)
	if err != nil {
		return nil, err
	}
	lab, err = open(p)
	if err != nil {
		return nil, err
	}
	lab.lock = lock
	if err := ctx.Err(); err != nil {
		return lab, err
	}
	if err := lab.wire(ctx); err != nil {
		return lab, err
	}
	return lab, nil
}

// checkNamespacesFree refuses to build over namespaces that exist already:
// they are not this build's to configure, nor to remove if it fails.
func checkNamespacesFree(names []string) error {
	var errs []error
	for _, ns := range names {
		if _, err := os.Lstat(filepath.Join(netnsRoot, ns)); err == nil {
			lab, _, _ := parseNamespace(ns)
			errs = append(errs, fmt.Errorf("namespace %s exists already (left by an earlier lab %s?): remove it with lvslab down --name %s", ns, lab, lab))
		}
	}
	return errors.Join(errs...)
}

// Open attaches to a lab that is already up (built by another process).
// Release it with Detach; Close would tear it down.
func Open(name string) (*Lab, error) {
	st, err := ReadState(name)
	if err != nil {
		return nil, err
	}
	return open(st.Spec)
}

func open(p *Spec) (*Lab, error) {
	lab := &Lab{Spec: p, byName: map[string]*Node{}}
	sw, err := openNode(NodeSpec{Name: switchNode}, p)
	if err != nil {
		return nil, err
	}
	lab.sw = sw
	for _, spec := range p.Nodes {
		n, err := openNode(spec, p)
		if err != nil {
			lab.release()
			return nil, err
		}
		lab.Nodes = append(lab.Nodes, n)
		lab.byName[n.Name] = n
	}
	return lab, nil
}

// Node returns the node with that name, or nil.
func (l *Lab) Node(name string) *Node { return l.byName[name] }

// Client returns the lab's client node.
func (l *Lab) Client() *Node { return l.first(RoleClient) }

// Director returns the director node (the first of a pair), or nil if the
// lab has none.
func (l *Lab) Director() *Node { return l.first(RoleDirector) }

// Directors returns the director nodes in spec order: two in an HA lab.
func (l *Lab) Directors() []*Node { return l.byRole(RoleDirector) }

// Router returns the router node, or nil if the lab has none.
func (l *Lab) Router() *Node { return l.first(RoleRouter) }

// RealServers returns the real servers in spec order.
func (l *Lab) RealServers() []*Node { return l.byRole(RoleRealServer) }

func (l *Lab) byRole(r Role) []*Node {
	var out []*Node
	for _, n := range l.Nodes {
		if n.Role == r {
			out = append(out, n)
		}
	}
	return out
}

func (l *Lab) first(r Role) *Node {
	for _, n := range l.Nodes {
		if n.Role == r {
			return n
		}
	}
	return nil
}

// Detach releases this process's handles and lock and leaves the lab up.
func (l *Lab) Detach() {
	l.release()
	l.lock.release()
	l.lock = nil
}

// Close tears the lab down: namespaces (and with them every link, address
// and route), recorded processes and the state directory.
func (l *Lab) Close() error {
	l.release()
	if l.lock == nil {
		return Remove(l.Spec.Name)
	}
	err := removeLocked(l.Spec.Name, nil)
	l.lock.release()
	l.lock = nil
	return err
}

func (l *Lab) release() {
	for _, n := range l.Nodes {
		n.close()
	}
	if l.sw != nil {
		l.sw.close()
	}
	l.Nodes, l.sw = nil, nil
}

func checkPrivileges() error {
	if os.Geteuid() != 0 {
		return errors.New("building a lab needs root (network namespaces and netlink): run it with sudo")
	}
	return nil
}

// createNamespaces makes each named namespace on a throw-away thread:
// unshare moves the thread into a fresh namespace, which is then pinned by a
// bind mount, and the thread is never returned to the runtime. It returns
// the namespaces it made, also on error: only those are its to remove.
func createNamespaces(names []string) ([]string, error) {
	if err := os.MkdirAll(netnsRoot, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", netnsRoot, err)
	}
	if err := shareNetnsRoot(); err != nil {
		return nil, err
	}
	errs := make([]error, len(names))
	created := make([]bool, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread() // never unlocked: this thread's namespace changes
			created[i], errs[i] = createNamespace(name)
		}()
	}
	wg.Wait()
	var made []string
	for i, name := range names {
		if created[i] {
			made = append(made, name)
		}
	}
	return made, errors.Join(errs...)
}

// shareNetnsRoot makes /run/netns a mount point of its own with shared
// propagation, as "ip netns add" does (iproute2's netns_add) before its
// first namespace. Done here first, a later "ip netns add" finds it so and
// leaves it; done there later, its bind of the folder onto itself would
// hide the namespaces of labs already up under a copy, and removing them
// would then fail with EBUSY. Like iproute2's, the mount stays: it is the
// standard home of named namespaces, not a lab's.
func shareNetnsRoot() error {
	err := unix.Mount("", netnsRoot, "none", unix.MS_SHARED|unix.MS_REC, "")
	if errors.Is(err, unix.EINVAL) { // not a mount point yet
		if err = unix.Mount(netnsRoot, netnsRoot, "none", unix.MS_BIND|unix.MS_REC, ""); err == nil {
			err = unix.Mount("", netnsRoot, "none", unix.MS_SHARED|unix.MS_REC, "")
		}
	}
	if err != nil {
		return fmt.Errorf("make %s a shared mount point (as ip netns add does): %w", netnsRoot, err)
	}
	return nil
}

// createNamespace makes one namespace; made says whether its mount point
// is this call's (to remove on failure), false when it existed before.
func createNamespace(name string) (made bool, err error) {
	path := filepath.Join(netnsRoot, name)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		lab, _, _ := parseNamespace(name)
		return false, fmt.Errorf("create namespace %s: %w (an earlier lab of that name left it? remove it with lvslab down --name %s)", name, err, lab)
	}
	f.Close()
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return true, fmt.Errorf("create namespace %s: unshare: %w", name, err)
	}
	self := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
	if err := unix.Mount(self, path, "none", unix.MS_BIND, ""); err != nil {
		return true, fmt.Errorf("create namespace %s: bind mount: %w", name, err)
	}
	// Set while still inside: addresses must be usable at once (no DAD
	// delay), must survive a link taken down for fault injection (IPv6
	// drops them by default), and no link should solicit routers.
	for key, v := range map[string]string{
		"net.ipv6.conf.all.keep_addr_on_down":     "1",
		"net.ipv6.conf.default.keep_addr_on_down": "1",
		"net.ipv6.conf.default.accept_dad":        "0",
		"net.ipv6.conf.all.accept_dad":            "0",
		"net.ipv6.conf.default.accept_ra":         "0",
	} {
		if err := writeSysctl(key, v); err != nil && !errors.Is(err, os.ErrNotExist) {
			return true, fmt.Errorf("namespace %s: %w", name, err)
		}
	}
	return true, nil
}

// wire builds bridges and veths in the switch namespace, then configures
// every node in parallel through its own netlink handle.
func (l *Lab) wire(ctx context.Context) error {
	if err := l.sw.Do(func() error {
		return writeSysctl("net.ipv6.conf.all.disable_ipv6", "1")
	}); err != nil {
		return err
	}
	for _, seg := range l.Spec.Segments {
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: seg.Name, Flags: net.FlagUp}, AgeingTime: l.Spec.Switch.bridgeAgeing()}
		if err := l.sw.nl.LinkAdd(br); err != nil {
			return fmt.Errorf("create bridge %s in %s: %w", seg.Name, l.sw.Namespace, err)
		}
	}
	for _, n := range l.Nodes {
		if err := l.plug(n); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	errs := make([]error, len(l.Nodes))
	var wg sync.WaitGroup
	for i, n := range l.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = l.configure(n)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return errors.Join(l.pinAddresses(), l.steerReceive())
}

// plug connects a node to its segments: a veth pair per link, one end on
// the segment's bridge, the other in the node, named after the segment.
func (l *Lab) plug(n *Node) error {
	for _, link := range n.Links {
		br, err := l.sw.nl.LinkByName(link.Segment)
		if err != nil {
			return fmt.Errorf("find bridge %s in %s: %w", link.Segment, l.sw.Namespace, err)
		}
		veth := &netlink.Veth{
			LinkAttrs:     netlink.LinkAttrs{Name: n.Name + "-" + link.Segment, MasterIndex: br.Attrs().Index, Flags: net.FlagUp},
			PeerName:      link.Dev(),
			PeerNamespace: netlink.NsFd(int(n.ns)),
		}
		if err := l.sw.nl.LinkAdd(veth); err != nil {
			return fmt.Errorf("create veth %s in %s (peer %s in %s): %w", veth.Name, l.sw.Namespace, link.Dev(), n.Namespace, err)
		}
	}
	return nil
}

func (l *Lab) configure(n *Node) error {
	lo, err := n.nl.LinkByName("lo")
	if err == nil {
		err = n.nl.LinkSetUp(lo)
	}
	if err != nil {
		return fmt.Errorf("bring up lo in %s: %w", n.Namespace, err)
	}
	sysctls := map[string]string{}
	if n.Role == RoleDirector || n.Role == RoleRouter {
		sysctls["net.ipv4.ip_forward"] = "1"
		sysctls["net.ipv6.conf.all.forwarding"] = "1"
	}
	for k, v := range n.Sysctls {
		sysctls[k] = v
	}
	if len(sysctls) > 0 {
		if err := n.Do(func() error {
			for k, v := range sysctls {
				if err := writeSysctl(k, v); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return fmt.Errorf("node %s: %w", n.Name, err)
		}
	}
	for _, ls := range n.Links {
		seg := l.segment(ls.Segment)
		link, err := n.nl.LinkByName(ls.Dev())
		if err != nil {
			return fmt.Errorf("find link %s in %s: %w", ls.Dev(), n.Namespace, err)
		}
		for _, a := range ls.IPv4 {
			addr := &netlink.Addr{IPNet: &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(seg.IPv4.Bits(), 32)}}
			if err := n.nl.AddrAdd(link, addr); err != nil {
				return fmt.Errorf("add %s to %s in %s: %w", a, ls.Dev(), n.Namespace, err)
			}
		}
		for _, a := range ls.IPv6 {
			addr := &netlink.Addr{IPNet: &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(seg.IPv6.Bits(), 128)}, Flags: unix.IFA_F_NODAD}
			if err := n.nl.AddrAdd(link, addr); err != nil {
				return fmt.Errorf("add %s to %s in %s: %w", a, ls.Dev(), n.Namespace, err)
			}
		}
		if err := n.nl.LinkSetUp(link); err != nil {
			return fmt.Errorf("bring up %s in %s: %w", ls.Dev(), n.Namespace, err)
		}
		if !ls.Impair.IsZero() {
			if err := n.Impair(ls.Segment, ls.Impair); err != nil {
				return err
			}
		}
	}
	for _, r := range l.Spec.Routes(n.Name) {
		if err := n.addRoute(r); err != nil {
			return err
		}
	}
	return nil
}

func (l *Lab) segment(name string) SegmentSpec {
	for _, s := range l.Spec.Segments {
		if s.Name == name {
			return s
		}
	}
	return SegmentSpec{}
}

// Route is one route a node needs for the lab's mode.
type Route struct {
	Dst netip.Prefix `json:"dst,omitzero"` // zero for the default route of Via's family
	Via netip.Addr   `json:"via,omitzero"`
	// Dev, with no Via, makes Dst on-link on the node's link of that name.
	Dev string `json:"dev,omitempty"`
	// Type "local" delivers Dst to the node itself (a VIP range a director
	// serves without holding each address); "" is unicast.
	Type string `json:"type,omitempty"`
}

func (r Route) String() string {
	dst := "default"
	if r.Dst.IsValid() {
		dst = r.Dst.String()
	}
	if !r.Via.IsValid() {
		return dst + " dev " + r.Dev
	}
	return dst + " via " + r.Via.String()
}

func (n *Node) addRoute(r Route) error {
	route := &netlink.Route{Gw: r.Via.AsSlice()}
	if r.Type == "local" {
		route.Type, route.Table, route.Scope = unix.RTN_LOCAL, unix.RT_TABLE_LOCAL, netlink.SCOPE_HOST
	}
	if !r.Via.IsValid() {
		link, err := n.nl.LinkByName(r.Dev)
		if err != nil {
			return fmt.Errorf("route %s in %s: %w", r, n.Namespace, err)
		}
		route.LinkIndex = link.Attrs().Index
		if r.Type != "local" {
			// A local route keeps host scope: the kernel refuses it on-link.
			route.Scope = netlink.SCOPE_LINK
		}
	}
	if r.Dst.IsValid() {
		route.Dst = &net.IPNet{IP: r.Dst.Addr().AsSlice(), Mask: net.CIDRMask(r.Dst.Bits(), r.Dst.Addr().BitLen())}
	} else if r.Via.Is4() {
		route.Dst = &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}
	} else {
		route.Dst = &net.IPNet{IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)}
	}
	if err := n.nl.RouteReplace(route); err != nil {
		return fmt.Errorf("route %s in %s: %w", r, n.Namespace, err)
	}
	return nil
}

// SetMode rewires the real servers' default routes for another mode.
func (l *Lab) SetMode(m Mode) error {
	next := l.Spec.Clone()
	next.Mode = m
	if _, err := Plan(next); err != nil {
		return err
	}
	l.Spec.Mode = m
	for _, n := range l.RealServers() {
		for _, r := range l.Spec.Routes(n.Name) {
			if err := n.addRoute(r); err != nil {
				return err
			}
		}
	}
	return nil
}
