//go:build linux

package capture

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lvslab/lvslab/topology"
)

// Target is one link of one node to capture on.
type Target struct {
	Node *topology.Node
	Link string
}

// Options says what a capture keeps.
type Options struct {
	Filter Filter
	// SnapLen is how many bytes of each packet are kept (0: DefaultSnapLen).
	SnapLen int
	// Count stops the capture after this many packets (0: no limit).
	Count int
}

// DefaultSnapLen keeps whole packets, GSO's 64 KiB super-packets included,
// as tcpdump's default does.
const DefaultSnapLen = 262144

// MaxSnapLen is the largest snap length accepted, the size of one read
// buffer per link.
const MaxSnapLen = 262144

// RecvBuffer is the kernel's queue per link for packets the reader has
// not taken yet. The default (about 200 kB) dropped 400 of 1000 packets
// of a 75 requests/s load in the TCG VM; a queue this size absorbs the
// reader's pauses there.
const RecvBuffer = 8 << 20

// pollInterval bounds how long a link's reader takes to notice a stop:
// the socket's receive timeout.
const pollInterval = 100 * time.Millisecond

// Check refuses options out of range.
func (o Options) Check() error {
	if o.SnapLen < 0 || o.SnapLen > MaxSnapLen {
		return fmt.Errorf("snap length %d: use 1 to %d bytes (0: whole packets)", o.SnapLen, MaxSnapLen)
	}
	if o.Count < 0 {
		return fmt.Errorf("count %d: use 1 or more packets (0: no limit)", o.Count)
	}
	return nil
}

func (o Options) snapLen() int {
	if o.SnapLen == 0 {
		return DefaultSnapLen
	}
	return o.SnapLen
}

// Interfaces are the interface blocks a capture of targets writes, in
// the order of the targets (a Packet's Link).
func Interfaces(targets []Target, opts Options) []Interface {
	out := make([]Interface, len(targets))
	for i, t := range targets {
		out[i] = Interface{Node: t.Node.Name, Link: t.Link, Filter: opts.Filter.String(), SnapLen: opts.snapLen()}
	}
	return out
}

// Session is a capture under way.
type Session struct {
	opts    Options
	sink    Sink
	fds     []int
	ifindex []int
	stop    chan struct{}
	full    chan struct{} // closed when Count packets were kept
	fullOne sync.Once
	wg      sync.WaitGroup
	kept    atomic.Int64
	mu      sync.Mutex
	err     error // the first error of a reader
	stopped bool
}

// Start opens a packet socket on every target's link, inside its node,
// and hands every packet that passes the filter to sink until Stop. It
// opens them all or none.
func Start(targets []Target, opts Options, sink Sink) (*Session, error) {
	if err := opts.Check(); err != nil {
		return nil, err
	}
	if len(targets) == 0 {
		return nil, errors.New("capture: no link to capture")
	}
	s := &Session{opts: opts, sink: sink, stop: make(chan struct{}), full: make(chan struct{})}
	for _, t := range targets {
		fd, ifindex, err := openSocket(t)
		if err != nil {
			s.closeSockets()
			return nil, err
		}
		s.fds = append(s.fds, fd)
		s.ifindex = append(s.ifindex, ifindex)
	}
	for i, fd := range s.fds {
		s.wg.Add(1)
		go s.read(i, fd)
	}
	return s, nil
}

// openSocket opens an AF_PACKET socket bound to the link inside the
// node's namespace: a packet socket sees the packets of the namespace it
// was made in, whatever thread reads it later.
func openSocket(t Target) (fd, ifindex int, err error) {
	fd = -1
	err = t.Node.Do(func() error {
		ifi, err := net.InterfaceByName(t.Link)
		if err != nil {
			return fmt.Errorf("find link: %w", err)
		}
		ifindex = ifi.Index
		proto := int(htons(unix.ETH_P_ALL))
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
		if err != nil {
			return fmt.Errorf("open packet socket: %w", err)
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: uint16(proto), Ifindex: ifi.Index}); err != nil {
			return fmt.Errorf("bind packet socket: %w", err)
		}
		// The kernel stamps each packet as it arrives: the file's times
		// are the link's, not when this reader got round to it.
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
			return fmt.Errorf("ask for timestamps: %w", err)
		}
		// SO_RCVBUFFORCE passes net.core.rmem_max, which caps SO_RCVBUF;
		// lvslab runs as root, which it needs.
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, RecvBuffer); err != nil {
			return fmt.Errorf("set receive buffer: %w", err)
		}
		tv := unix.NsecToTimeval(pollInterval.Nanoseconds())
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return fmt.Errorf("set receive timeout: %w", err)
		}
		return nil
	})
	if err != nil {
		if fd >= 0 {
			unix.Close(fd)
		}
		return -1, 0, fmt.Errorf("capture on %s:%s: %w", t.Node.Name, t.Link, err)
	}
	return fd, ifindex, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func (s *Session) read(link, fd int) {
	defer s.wg.Done()
	buf := make([]byte, s.opts.snapLen())
	oob := make([]byte, unix.CmsgSpace(16))
	flags := unix.MSG_TRUNC
	for {
		// Once stopped, what the kernel queued before the stop is still
		// read, without waiting: a failing spec's last packets are the
		// ones that matter.
		if flags&unix.MSG_DONTWAIT == 0 {
			select {
			case <-s.stop:
				flags |= unix.MSG_DONTWAIT
			default:
			}
		}
		n, oobn, _, from, err := unix.Recvmsg(fd, buf, oob, flags)
		switch {
		case errors.Is(err, unix.EAGAIN) && flags&unix.MSG_DONTWAIT != 0:
			return
		case errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.ENETDOWN):
			// The link went down (a spec's fault, or lvslab's SetLinkUp):
			// the kernel says so once, and the socket carries on when the
			// link comes back.
			continue
		case err != nil:
			s.fail(fmt.Errorf("capture: read link %d: %w", link, err))
			return
		}
		// Packets of other links may have queued before bind.
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Ifindex != s.ifindex[link] {
			continue
		}
		data := buf[:min(n, len(buf))]
		if !s.opts.Filter.Match(data) {
			continue
		}
		if s.opts.Count > 0 {
			if s.kept.Add(1) > int64(s.opts.Count) {
				continue
			}
		} else {
			s.kept.Add(1)
		}
		p := Packet{Link: link, Timestamp: timestamp(oob[:oobn]), Length: n, Data: data}
		if err := s.sink.Packet(p); err != nil {
			s.fail(err)
			return
		}
		if s.opts.Count > 0 && s.kept.Load() >= int64(s.opts.Count) {
			s.fullOne.Do(func() { close(s.full) })
		}
	}
}

// timestamp is the kernel's receive time of a packet, or now if the
// kernel gave none.
func timestamp(oob []byte) time.Time {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err == nil {
		for _, m := range msgs {
			if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SO_TIMESTAMPNS && len(m.Data) >= 16 {
				sec := int64(binary.NativeEndian.Uint64(m.Data[0:8]))
				nsec := int64(binary.NativeEndian.Uint64(m.Data[8:16]))
				return time.Unix(sec, nsec)
			}
		}
	}
	return time.Now()
}

func (s *Session) fail(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
	s.fullOne.Do(func() { close(s.full) })
}

// Done is closed when the capture cannot go on: Count packets were kept,
// or a reader failed (Stop returns why).
func (s *Session) Done() <-chan struct{} { return s.full }

// Stats are a capture's counts: packets kept, and packets the kernel
// dropped because a reader fell behind (per socket, summed).
type Stats struct {
	Kept, Dropped int64
}

// Report says what a capture wrote and, when the kernel dropped packets,
// what to do about it.
func (s Stats) Report(w io.Writer, prefix string) {
	fmt.Fprintf(w, "%s: %d packets written, %d dropped by the kernel\n", prefix, s.Kept, s.Dropped)
	if s.Dropped > 0 {
		fmt.Fprintf(w, "%s: warning: the file misses %d packets the links carried: narrow the capture with --filter or fewer links\n", prefix, s.Dropped)
	}
}

// CheckRun names what is wrong with a capture's limits, as the flags
// that set them say them: a run of duration (0: no limit) with opts.
func CheckRun(duration time.Duration, opts Options) error {
	switch {
	case duration < 0:
		return fmt.Errorf("--duration %s: use 0 (no limit) or more", duration)
	case opts.Count < 0:
		return fmt.Errorf("--count %d: use 0 (no limit) or more", opts.Count)
	case opts.SnapLen < 0 || opts.SnapLen > MaxSnapLen:
		return fmt.Errorf("--snaplen %d: use 1 to %d (0: whole packets)", opts.SnapLen, MaxSnapLen)
	}
	return nil
}

// Stop ends the capture, closes its sockets and returns its counts and
// the first error a reader met. After Stop returns no packet reaches the
// sink.
func (s *Session) Stop() (Stats, error) {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return Stats{}, errors.New("capture: stopped twice")
	}
	s.stopped = true
	s.mu.Unlock()
	close(s.stop)
	s.wg.Wait()
	st := Stats{Kept: s.kept.Load()}
	if s.opts.Count > 0 {
		st.Kept = min(st.Kept, int64(s.opts.Count))
	}
	for _, fd := range s.fds {
		if ts, err := unix.GetsockoptTpacketStats(fd, unix.SOL_PACKET, unix.PACKET_STATISTICS); err == nil {
			st.Dropped += int64(ts.Drops)
		}
	}
	s.closeSockets()
	return st, s.err
}

func (s *Session) closeSockets() {
	for _, fd := range s.fds {
		unix.Close(fd)
	}
	s.fds = nil
}

// Run captures on targets into sink until ctx ends or Count packets were
// kept. An ended ctx is how a capture normally stops, not an error.
func Run(ctx context.Context, targets []Target, opts Options, sink Sink) (Stats, error) {
	s, err := Start(targets, opts, sink)
	if err != nil {
		return Stats{}, err
	}
	select {
	case <-ctx.Done():
	case <-s.Done():
	}
	return s.Stop()
}
