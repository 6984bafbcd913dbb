//go:build linux

package loadgen

import (
	"encoding/binary"
	"net/netip"
	"unsafe"

	"github.com/lvslab/lvslab/topology"
	"golang.org/x/sys/unix"
)

// Here makes sockets in the calling process's own network namespace: load
// from where the process runs (tests, a host that is itself the client).
var Here Sockets = here{}

type here struct{}

func (here) Socket(family, typ int) (int, error) { return topology.NewSocket(family, typ) }

// The event loop calls the kernel through the raw entry points below, not
// through syscall.Syscall. Every descriptor it uses is non-blocking, so no
// call waits; but on a veth path the kernel does the peer's receive work
// inside the caller's call (connect, write and close take tens of µs),
// and a call that long through syscall.Syscall lets the runtime's monitor
// take the P away and wake another thread to run it, twice per request
// (docs/findings.md). golang.org/x/sys/unix has no raw variants of these
// calls, hence the wrappers.

// rawSockaddr is a sockaddr_in or sockaddr_in6, ready for the kernel.
type rawSockaddr struct {
	b [unix.SizeofSockaddrInet6]byte
	n uint32
}

func newRawSockaddr(ap netip.AddrPort) rawSockaddr {
	var sa rawSockaddr
	a := ap.Addr()
	binary.BigEndian.PutUint16(sa.b[2:], ap.Port())
	if a.Is4() || a.Is4In6() {
		binary.NativeEndian.PutUint16(sa.b[0:], unix.AF_INET)
		v4 := a.Unmap().As4()
		copy(sa.b[4:], v4[:])
		sa.n = unix.SizeofSockaddrInet4
		return sa
	}
	binary.NativeEndian.PutUint16(sa.b[0:], unix.AF_INET6)
	v6 := a.As16()
	copy(sa.b[8:], v6[:]) // after family, port and flow info
	sa.n = unix.SizeofSockaddrInet6
	return sa
}

func (sa *rawSockaddr) family() int {
	return int(binary.NativeEndian.Uint16(sa.b[0:]))
}

func rawBind(fd int, sa *rawSockaddr) unix.Errno {
	_, _, e := unix.RawSyscall(unix.SYS_BIND, uintptr(fd), uintptr(unsafe.Pointer(&sa.b[0])), uintptr(sa.n))
	return e
}

func rawConnect(fd int, sa *rawSockaddr) unix.Errno {
	_, _, e := unix.RawSyscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&sa.b[0])), uintptr(sa.n))
	return e
}

func rawWrite(fd int, b []byte) (int, unix.Errno) {
	n, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(n), 0
}

func rawRead(fd int, b []byte) (int, unix.Errno) {
	n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(n), 0
}

func rawClose(fd int) {
	unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0)
}

// rawSocketError reads and clears SO_ERROR: why a connect failed.
func rawSocketError(fd int) unix.Errno {
	var v int32
	n := uint32(unsafe.Sizeof(v))
	_, _, e := unix.RawSyscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_ERROR,
		uintptr(unsafe.Pointer(&v)), uintptr(unsafe.Pointer(&n)), 0)
	if e != 0 {
		return e
	}
	return unix.Errno(v)
}

func rawEpollCtl(ep, op, fd int, ev *unix.EpollEvent) unix.Errno {
	_, _, e := unix.RawSyscall6(unix.SYS_EPOLL_CTL, uintptr(ep), uintptr(op), uintptr(fd), uintptr(unsafe.Pointer(ev)), 0, 0)
	return e
}

// rawEpollPoll returns the events ready now, without waiting (epoll_pwait:
// the one epoll_wait every architecture has).
func rawEpollPoll(ep int, evs []unix.EpollEvent) int {
	n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(ep), uintptr(unsafe.Pointer(&evs[0])), uintptr(len(evs)), 0, 0, 0)
	if e != 0 {
		return 0
	}
	return int(n)
}
