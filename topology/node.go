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
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Node is one running namespace of a lab.
type Node struct {
	NodeSpec
	// Namespace is the name under /run/netns ("ip netns exec <Namespace> …").
	Namespace string

	ns   netns.NsHandle
	nl   *netlink.Handle
	spec *Spec // the lab's, for the routes a link brought back up needs

	factoryOnce sync.Once
	pool        *socketPool
	quit        chan struct{}
}

func namespaceName(lab, node string) string { return "lvs-" + lab + "-" + node }

func openNode(spec NodeSpec, lab *Spec) (*Node, error) {
	n := &Node{NodeSpec: spec, Namespace: namespaceName(lab.Name, spec.Name), spec: lab, quit: make(chan struct{})}
	h, err := netns.GetFromPath(filepath.Join(netnsRoot, n.Namespace))
	if err != nil {
		return nil, fmt.Errorf("open namespace %s: %w", n.Namespace, err)
	}
	n.ns = h
	n.nl, err = netlink.NewHandleAt(h, unix.NETLINK_ROUTE)
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("open netlink in %s: %w", n.Namespace, err)
	}
	return n, nil
}

func (n *Node) close() {
	close(n.quit)
	if n.nl != nil {
		n.nl.Close()
	}
	n.ns.Close()
}

// Netlink is a netlink handle opened inside the node; safe to use from
// any goroutine, one call at a time.
func (n *Node) Netlink() *netlink.Handle { return n.nl }

// NsPath is the node's namespace as a path, for libraries that open their
// own handle inside it (moby/ipvs).
func (n *Node) NsPath() string { return filepath.Join(netnsRoot, n.Namespace) }

// Do runs fn on an OS thread inside the node's namespace. Sockets fn opens
// stay in the namespace and can be used afterwards from any goroutine. A
// thread that cannot be switched back is never reused.
func (n *Node) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// Every early return leaves the thread locked: the runtime then
		// ends it with this goroutine instead of reusing it.
		origin, err := netns.Get()
		if err != nil {
			errc <- fmt.Errorf("read current namespace: %w", err)
			return
		}
		defer origin.Close()
		if err := netns.Set(n.ns); err != nil {
			errc <- fmt.Errorf("enter namespace %s: %w", n.Namespace, err)
			return
		}
		ferr := safeCall(fn)
		if err := netns.Set(origin); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("leave namespace %s: %w", n.Namespace, err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

func safeCall(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic inside namespace: %v", r)
		}
	}()
	return fn()
}

// Listen opens a listener inside the node.
func (n *Node) Listen(network, address string) (net.Listener, error) {
	var l net.Listener
	err := n.Do(func() (err error) {
		l, err = net.Listen(network, address)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listen %s %s in %s: %w", network, address, n.Name, err)
	}
	return l, nil
}

// ListenPacket opens a packet listener inside the node.
func (n *Node) ListenPacket(network, address string) (net.PacketConn, error) {
	var c net.PacketConn
	err := n.Do(func() (err error) {
		c, err = net.ListenPacket(network, address)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listen %s %s in %s: %w", network, address, n.Name, err)
	}
	return c, nil
}

// SetLinkUp takes the node's link on a segment down or up (fault
// injection). The kernel drops routes through a link that goes down, so
// bringing it up restores the node's routes.
func (n *Node) SetLinkUp(segment string, up bool) error {
	dev := segment
	if ls, ok := n.NodeSpec.Link(segment); ok {
		dev = ls.Dev()
	}
	link, err := n.nl.LinkByName(dev)
	if err != nil {
		return fmt.Errorf("find link %s in %s: %w", segment, n.Name, err)
	}
	if up {
		err = n.nl.LinkSetUp(link)
	} else {
		err = n.nl.LinkSetDown(link)
	}
	if err != nil {
		return fmt.Errorf("set link %s in %s up=%v: %w", segment, n.Name, up, err)
	}
	if up {
		for _, r := range n.spec.Routes(n.Name) {
			if err := n.addRoute(r); err != nil {
				return err
			}
		}
	}
	return nil
}

// SetSysctl writes a net.* sysctl inside the node.
func (n *Node) SetSysctl(key, value string) error {
	if !sysctlRE.MatchString(key) {
		return fmt.Errorf("sysctl %q: only net.* sysctls are per namespace", key)
	}
	return n.Do(func() error { return writeSysctl(key, value) })
}

// Sysctl reads a net.* sysctl inside the node.
func (n *Node) Sysctl(key string) (string, error) {
	var v string
	err := n.Do(func() error {
		data, err := os.ReadFile(sysctlPath(key))
		v = strings.TrimSpace(string(data))
		return err
	})
	return v, err
}

func sysctlPath(key string) string {
	return "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
}

// writeSysctl must run on a thread inside the target namespace: files under
// /proc/sys/net belong to the namespace of the thread that opens them.
func writeSysctl(key, value string) error {
	if err := os.WriteFile(sysctlPath(key), []byte(value), 0o644); err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", key, value, err)
	}
	return nil
}

// Dial connects from inside the node. laddr, if valid, is the source
// address (the port is picked at connect time, so many destinations can
// share source ports). network is "tcp" or "udp".
//
// Go's net.Dialer creates its socket in the namespace of whatever thread
// runs it, so this takes a socket made inside the node (see socketPool),
// connects it and lets Go's poller drive it as an *os.File: no namespace
// switch per dial, and none of net.FileConn's descriptor duplication, which
// matters when the load generator opens one connection per request.
func (n *Node) Dial(ctx context.Context, network string, laddr netip.Addr, raddr netip.AddrPort) (net.Conn, error) {
	typ := unix.SOCK_STREAM
	if network == "udp" {
		typ = unix.SOCK_DGRAM
	} else if network != "tcp" {
		return nil, fmt.Errorf("dial %s: network %q is not tcp or udp", raddr, network)
	}
	family := unix.AF_INET
	if raddr.Addr().Is6() && !raddr.Addr().Is4In6() {
		family = unix.AF_INET6
	}
	fd, err := n.Socket(family, typ)
	if err != nil {
		return nil, fmt.Errorf("dial %s from %s: %w", raddr, n.Name, err)
	}
	if laddr.IsValid() {
		if err := unix.Bind(fd, sockaddr(netip.AddrPortFrom(laddr, 0))); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("bind %s in %s: %w", laddr, n.Name, err)
		}
	}
	// Connect before handing the descriptor to the poller, so that the
	// poller's first report is the connection's, not the unconnected
	// socket's.
	cerr := unix.Connect(fd, sockaddr(raddr))
	c := &fileConn{File: os.NewFile(uintptr(fd), "socket"), network: network}
	if errors.Is(cerr, unix.EINPROGRESS) {
		cerr = waitConnected(ctx, c)
	}
	if cerr != nil {
		c.Close()
		return nil, &net.OpError{Op: "dial", Net: network, Addr: net.TCPAddrFromAddrPort(raddr), Err: cerr}
	}
	return c, nil
}

// fileConn is a connected socket driven by Go's poller through *os.File.
type fileConn struct {
	*os.File
	network string
}

func (c *fileConn) LocalAddr() net.Addr  { return c.addr(unix.Getsockname) }
func (c *fileConn) RemoteAddr() net.Addr { return c.addr(unix.Getpeername) }

func (c *fileConn) addr(get func(int) (unix.Sockaddr, error)) net.Addr {
	var sa unix.Sockaddr
	if rc, err := c.File.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) { sa, _ = get(int(fd)) })
	}
	var ap netip.AddrPort
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		ap = netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *unix.SockaddrInet6:
		ap = netip.AddrPortFrom(netip.AddrFrom16(a.Addr), uint16(a.Port))
	}
	if c.network == "udp" {
		return net.UDPAddrFromAddrPort(ap)
	}
	return net.TCPAddrFromAddrPort(ap)
}

// waitConnected waits for a non-blocking connect to finish.
func waitConnected(ctx context.Context, c *fileConn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok {
		c.SetWriteDeadline(d)
		defer c.SetWriteDeadline(time.Time{})
	}
	stop := context.AfterFunc(ctx, func() { c.SetWriteDeadline(time.Now()) })
	defer stop()
	var cerr error
	werr := rc.Write(func(fd uintptr) bool {
		// One poll tells "still connecting" (no event) from connected
		// (POLLOUT) and failed (POLLERR, then SO_ERROR says why).
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
		if _, err := unix.Poll(pfd, 0); err != nil {
			cerr = err
			return true
		}
		switch {
		case pfd[0].Revents&(unix.POLLERR|unix.POLLHUP) != 0:
			cerr = unix.ECONNREFUSED
			if v, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR); err == nil && v != 0 {
				cerr = unix.Errno(v)
			}
			return true
		case pfd[0].Revents&unix.POLLOUT != 0:
			return true
		}
		return false
	})
	if werr != nil {
		if ctx.Err() != nil && !errors.Is(werr, os.ErrDeadlineExceeded) {
			return ctx.Err()
		}
		return werr
	}
	return cerr
}

func sockaddr(ap netip.AddrPort) unix.Sockaddr {
	a := ap.Addr()
	if a.Is4() || a.Is4In6() {
		return &unix.SockaddrInet4{Addr: a.Unmap().As4(), Port: int(ap.Port())}
	}
	return &unix.SockaddrInet6{Addr: a.As16(), Port: int(ap.Port())}
}

// socketPool holds sockets created inside the node, made in batches by a
// thread that lives there: one wake-up of that thread per batch instead of
// one per dial. A batch that fails (EMFILE, ENOBUFS) fails only the callers
// that waited for it; the next call asks for a new batch. Only the end of
// the factory (the node closed, its namespace gone) is for good.
type socketPool struct {
	mu     sync.Mutex
	free   map[[2]int][]int // (family, type) -> descriptors
	batch  *socketBatch     // the next batch to be made
	closed error            // set once the factory has ended
	refill chan [2]int
}

// socketBatch is one round of the factory: done is closed when it is
// made; err says why it has no socket of kind key.
type socketBatch struct {
	done chan struct{}
	key  [2]int
	err  error
}

// socketBatchSize weighs two costs. Each batch is a hand-over to the
// factory's thread and back (two or three futex calls). And with one P the
// factory holds it while it makes the batch, so an event loop cannot read
// the responses that arrive meanwhile. 256 lengthened a TCG guest's p99 by
// 8 to 12 %, 32 does not (docs/findings.md).
const socketBatchSize = 32

// Socket returns a socket created inside the node, as NewSocket makes it
// (family AF_INET or AF_INET6, typ SOCK_STREAM or SOCK_DGRAM). The caller
// owns the descriptor.
func (n *Node) Socket(family, typ int) (int, error) {
	n.factoryOnce.Do(func() {
		n.pool = startSocketPool(func() error {
			if err := netns.Set(n.ns); err != nil {
				return fmt.Errorf("enter namespace %s: %w", n.Namespace, err)
			}
			return nil
		}, func(key [2]int) ([]int, error) {
			fds, err := makeSockets(key)
			if err != nil {
				err = fmt.Errorf("create socket in %s: %w", n.Namespace, err)
			}
			return fds, err
		}, n.quit, fmt.Errorf("node %s is closed", n.Name))
	})
	return n.pool.socket(family, typ)
}

// makeSockets creates up to socketBatchSize sockets on the calling thread;
// fewer (but at least one) when the process runs short of descriptors or
// buffers, or none and the error.
func makeSockets(key [2]int) ([]int, error) {
	var batch []int
	for range socketBatchSize {
		fd, err := NewSocket(key[0], key[1])
		if err != nil {
			if len(batch) == 0 {
				return nil, err
			}
			break
		}
		batch = append(batch, fd)
	}
	return batch, nil
}

// NewSocket returns a socket made in the calling thread's network
// namespace: non-blocking, close-on-exec, and for TCP with
// IP_BIND_ADDRESS_NO_PORT set (binding it to a source address leaves the
// port to connect, so only the 4-tuple must be unique).
//
// setsockopt is called raw, without the runtime's system-call bookkeeping
// that unix.SetsockoptInt does (unix.Socket is raw already): it cannot
// block, and a process that runs on one CPU (an event loop with GOMAXPROCS
// 1) loses its only P to the runtime's monitor whenever the monitor finds
// it inside a call, which hands the P to another thread and sets the
// monitor back to waking every 20 µs: 1,000 wake-ups a second with the
// bookkeeping, 25 without (docs/findings.md).
func NewSocket(family, typ int) (int, error) {
	fd, err := unix.Socket(family, typ|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return -1, err
	}
	if typ == unix.SOCK_STREAM {
		one := int32(1)
		unix.RawSyscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT,
			uintptr(unsafe.Pointer(&one)), unsafe.Sizeof(one), 0)
	}
	return fd, nil
}

// startSocketPool starts the factory: a locked thread that runs enter once
// (into the node's namespace) and then create for every batch asked, until
// quit is closed; closedErr is what callers get after that.
func startSocketPool(enter func() error, create func(key [2]int) ([]int, error), quit <-chan struct{}, closedErr error) *socketPool {
	p := &socketPool{free: map[[2]int][]int{}, batch: &socketBatch{done: make(chan struct{})}, refill: make(chan [2]int, 1)}
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the factory
		end := enter()
		for end == nil {
			select {
			case key := <-p.refill:
				fds, err := create(key)
				p.mu.Lock()
				p.free[key] = append(p.free[key], fds...)
				b := p.batch
				b.key, b.err = key, err
				p.batch = &socketBatch{done: make(chan struct{})}
				p.mu.Unlock()
				close(b.done)
			case <-quit:
				end = closedErr
			}
		}
		p.mu.Lock()
		for _, fds := range p.free {
			for _, fd := range fds {
				unix.Close(fd)
			}
		}
		p.free = nil
		p.closed = end
		close(p.batch.done)
		p.mu.Unlock()
	}()
	return p
}

// socket takes a socket from the pool, waiting for a batch when it is empty.
func (p *socketPool) socket(family, typ int) (int, error) {
	key := [2]int{family, typ}
	for {
		p.mu.Lock()
		if p.closed != nil {
			p.mu.Unlock()
			return -1, p.closed
		}
		if fds := p.free[key]; len(fds) > 0 {
			fd := fds[len(fds)-1]
			p.free[key] = fds[:len(fds)-1]
			p.mu.Unlock()
			if len(fds) == socketBatchSize/2 {
				p.ask(key) // more, before the pool runs dry
			}
			return fd, nil
		}
		b := p.batch
		p.mu.Unlock()
		p.ask(key)
		<-b.done
		p.mu.Lock()
		err, closed := b.err, p.closed
		p.mu.Unlock()
		if closed != nil {
			return -1, closed
		}
		if err != nil && b.key == key {
			return -1, err
		}
	}
}

// ask requests a batch unless one is already requested.
func (p *socketPool) ask(key [2]int) {
	select {
	case p.refill <- key:
	default:
	}
}
