//go:build linux

package loadgen

import (
	"fmt"
	"math"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// loop drives a share of the run's clients from one goroutine, as wrk's
// threads do: one epoll instance, every connection a small state machine,
// raw non-blocking system calls, no goroutine, channel, timer or
// allocation per request. Go's own poller only wakes the loop when its
// epoll instance has events (or the next deadline comes), so a waiting
// loop costs what a parked goroutine costs.
//
// (gnet and nbio are event loops too, but they dial with net.Dial, in
// the namespace of whatever thread runs it, or adopt a net.Conn by
// duplicating its descriptor, and deliver data through callbacks over
// buffers of their own: per-connection work that this loop exists to
// avoid.)
type loop struct {
	r         *run
	id        int // this loop sends requests id, id+loops, … in open loop
	ep        int
	epf       *os.File // ep in Go's poller
	rc        syscall.RawConn
	pollFn    func(uintptr) bool
	nready    int
	events    []unix.EpollEvent
	buf       []byte
	conns     []conn
	perClient int     // conns per client: one per target with keep-alive, else one
	ready     []int32 // clients free to send: now (closed loop), when due (open loop)
	backing   []backingOff
	strikes   []uint8 // by client: connections in a row it could not open
	head      int32   // in-flight conns in the order they were sent (their
	tail      int32   // deadlines are in the same order)
	inflight  int
	armed     int64 // the deadline set on epf, ns since the start
	exhausted bool  // no more requests to send
	issuing   bool  // issue is on the stack: a request that ends at once waits in ready
	nextSeq   int64 // open loop: the next request this loop sends
	source    int
	stop      atomic.Bool
	lines     [][]byte
	names     serverNames
	rec       recorder
	completed int64
}

// backingOff is a client that could not open a connection, and when it
// tries again.
type backingOff struct {
	client int32
	until  int64 // ns since the start
}

// A client whose socket, bind, connect or first write fails at once (a
// host out of descriptors or source ports: EMFILE, EADDRNOTAVAIL, …)
// waits before it tries again, 1 ms, doubling with each such failure in a
// row, up to 100 ms: each failure is a measured error, the retries are
// bounded to ten a second per client, and the loop still reaches its wait
// and reads the connections that did open. Without it, the failed client
// went straight back to ready and the loop never left issue.
const (
	firstBackOff = int64(time.Millisecond)
	maxBackOff   = int64(100 * time.Millisecond)
)

// conn is one client's connection to one target, and the request on it.
type conn struct {
	fd        int32 // -1 when closed
	gen       uint32
	self      int32 // index in the loop's conns
	target    int32
	state     uint8
	fresh     bool // opened for this request
	readable  bool // input arrived while idle (the server closed it, or sent junk)
	hup       bool // the server has closed its side: read to the end
	written   int32
	prev      int32
	next      int32
	scheduled int64 // ns since the start: when the request was due
	deadline  int64
	resp      response
}

const (
	connIdle uint8 = iota
	connWriting
	connReading
)

const (
	eventBatch = 256
	readBuffer = 16 << 10
)

func newLoop(r *run, id, clients int) (*loop, error) {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("create epoll instance: %w", err)
	}
	// Non-blocking, so that os.NewFile gives it to Go's poller.
	if err := unix.SetNonblock(ep, true); err != nil {
		unix.Close(ep)
		return nil, fmt.Errorf("set epoll instance non-blocking: %w", err)
	}
	l := &loop{r: r, id: id, ep: ep, epf: os.NewFile(uintptr(ep), "epoll"), head: -1, tail: -1,
		events: make([]unix.EpollEvent, eventBatch), buf: make([]byte, readBuffer), perClient: 1, source: id}
	if l.rc, err = l.epf.SyscallConn(); err != nil {
		l.epf.Close()
		return nil, fmt.Errorf("epoll instance in Go's poller: %w", err)
	}
	l.pollFn = func(uintptr) bool {
		l.nready = rawEpollPoll(l.ep, l.events)
		return l.nready > 0
	}
	if r.cfg.KeepAlive {
		l.perClient = len(r.cfg.Targets)
	}
	l.conns = make([]conn, clients*l.perClient)
	for i := range l.conns {
		l.conns[i] = conn{fd: -1, self: int32(i), prev: -1, next: -1}
	}
	l.ready = make([]int32, clients)
	l.strikes = make([]uint8, clients)
	l.backing = make([]backingOff, 0, clients)
	for i := range l.ready {
		l.ready[i] = int32(clients - 1 - i) // client 0 first
	}
	l.nextSeq = int64(id)
	l.rec.init(&r.series)
	return l, nil
}

// run sends requests until the run is over, or (for benchmarks) until
// more requests have ended.
func (l *loop) run(more int64) {
	limit := l.completed + min(more, math.MaxInt64-l.completed)
	for {
		now := l.r.now()
		if l.stop.Load() || now >= l.r.length {
			l.rec.unsent = l.unsentBy(min(now, l.r.length))
			l.abandon()
			return
		}
		l.expire(now)
		l.release(now)
		l.issue(now)
		if l.completed >= limit || (l.exhausted && l.inflight == 0) {
			return
		}
		n := l.wait(now)
		for i := range n {
			l.handle(l.events[i])
		}
	}
}

// close ends what is still open and flushes the loop's last second.
func (l *loop) close() {
	l.abandon()
	for i := range l.conns {
		l.closeConn(&l.conns[i])
	}
	l.rec.flush()
	l.epf.Close()
}

// abandon cuts short what is in flight when the run ends.
func (l *loop) abandon() {
	for l.head >= 0 {
		c := &l.conns[l.head]
		l.unqueue(c)
		l.closeConn(c)
		c.resp.giveBack(l)
		l.rec.unfinished++
	}
	l.exhausted = true
}

// unsentBy counts the open-loop requests of this loop due before t that
// it never sent, every client being busy: the part of the offered rate
// the run did not hold.
func (l *loop) unsentBy(t int64) int64 {
	if !l.r.open() || t <= 0 {
		return 0
	}
	// This loop's requests are id, id+loops, …: those below n are due.
	loops, id := float64(l.r.loops), float64(l.id)
	n := l.r.dueBefore(t)
	if limit := l.r.cfg.Requests; limit > 0 {
		n = min(n, limit)
	}
	due := int64(math.Ceil((float64(n) - id) / loops))
	sent := (l.nextSeq - int64(l.id)) / int64(l.r.loops)
	return max(0, due-sent)
}

// halt stops the loop from another goroutine (the caller cancelled).
func (l *loop) halt() {
	l.stop.Store(true)
	l.epf.SetReadDeadline(l.r.start) // long past: wakes the loop
}

// issue sends what is due: every free client's next request (closed
// loop), or the requests whose time has come while a client is free
// (open loop). A request that fails at once puts its client back in
// ready, for this same loop to take: no recursion however many fail.
func (l *loop) issue(now int64) {
	if l.issuing {
		return
	}
	l.issuing = true
	defer func() { l.issuing = false }()
	for len(l.ready) > 0 && !l.exhausted {
		var seq, at int64
		if l.r.open() {
			seq, at = l.nextSeq, l.r.scheduled(l.nextSeq)
			if (l.r.cfg.Requests > 0 && seq >= l.r.cfg.Requests) || at >= l.r.length {
				l.exhausted = true
				return
			}
			if at > now {
				return
			}
			l.nextSeq += int64(l.r.loops)
		} else {
			var ok bool
			if seq, ok = l.r.take(); !ok {
				l.exhausted = true
				return
			}
			at = l.r.now()
			if at >= l.r.length {
				return
			}
		}
		client := l.ready[len(l.ready)-1]
		l.ready = l.ready[:len(l.ready)-1]
		l.send(client, seq, at)
	}
}

// send starts request seq on one of client's connections.
func (l *loop) send(client int32, seq, scheduled int64) {
	t := int32(seq % int64(len(l.r.cfg.Targets)))
	ci := client * int32(l.perClient)
	if l.perClient > 1 {
		ci += t
	}
	c := &l.conns[ci]
	c.target, c.scheduled, c.written = t, scheduled, 0
	c.resp.reset()
	now := l.r.now()
	c.deadline = min(now+int64(l.r.cfg.Timeout), l.r.length)
	l.enqueue(ci)
	if c.fd >= 0 {
		c.fresh = false
		gen := c.gen
		if e := l.write(c); e != 0 {
			l.finish(c, e)
			return
		}
		if c.gen == gen && c.state == connReading && c.readable {
			l.read(c)
		}
		return
	}
	if err := l.open(c, ci, t); err != nil {
		l.settle(c, err)
		l.backOff(client)
		return
	}
	l.strikes[client] = 0
}

// open opens c's connection to target t and sends its request (or asks
// epoll to say when it can); the error is why it could not, at once.
func (l *loop) open(c *conn, ci, t int32) error {
	fd, err := l.r.cfg.Client.Socket(l.r.dst[t].family(), unix.SOCK_STREAM)
	if err != nil {
		return err
	}
	c.fd, c.fresh, c.readable, c.hup = int32(fd), true, false, false
	c.gen++
	if len(l.r.src) > 0 {
		if e := rawBind(fd, &l.r.src[l.source%len(l.r.src)]); e != 0 {
			return e
		}
		l.source++
	}
	if e := rawConnect(fd, &l.r.dst[t]); e != 0 && e != unix.EINPROGRESS {
		return e
	}
	if l.r.cfg.LatencyFrom == FromWrite {
		// As wrk does: the request goes out when epoll reports the new
		// connection writable, a turn of the loop later, and its clock
		// starts there.
		c.state = connWriting
	} else if e := l.write(c); e != 0 {
		// On a veth path the handshake is done by the time connect returns,
		// so the request usually goes out at once; if not, the first
		// EPOLLOUT sends it.
		return e
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLET, Fd: ci, Pad: int32(c.gen)}
	if c.state == connWriting {
		ev.Events |= unix.EPOLLOUT
	}
	if e := rawEpollCtl(l.ep, unix.EPOLL_CTL_ADD, fd, &ev); e != 0 {
		return e
	}
	return nil
}

// backOff parks a client that could not open a connection (see
// firstBackOff).
func (l *loop) backOff(client int32) {
	n := l.strikes[client]
	wait := min(firstBackOff<<n, maxBackOff)
	if wait < maxBackOff {
		l.strikes[client]++
	}
	l.backing = append(l.backing, backingOff{client: client, until: l.r.now() + wait})
}

// release makes the clients whose back-off is over ready again.
func (l *loop) release(now int64) {
	for i := 0; i < len(l.backing); {
		if b := l.backing[i]; b.until <= now {
			l.ready = append(l.ready, b.client)
			l.backing[i] = l.backing[len(l.backing)-1]
			l.backing = l.backing[:len(l.backing)-1]
			continue
		}
		i++
	}
}

// write sends (the rest of) the request; an error it returns has not
// ended the request yet.
func (l *loop) write(c *conn) unix.Errno {
	if c.written == 0 && l.r.cfg.LatencyFrom == FromWrite {
		c.scheduled = l.r.now()
	}
	req := l.r.req[c.target]
	n, e := rawWrite(int(c.fd), req[c.written:])
	for e == unix.EINTR {
		n, e = rawWrite(int(c.fd), req[c.written:])
	}
	if e != 0 && e != unix.EAGAIN {
		return e
	}
	c.written += int32(n)
	if int(c.written) == len(req) {
		c.state = connReading
		return 0
	}
	if !c.fresh && c.state != connWriting {
		// A kept connection with a full send buffer: rare enough to pay
		// for a change of what epoll watches.
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET, Fd: c.self, Pad: int32(c.gen)}
		if e := rawEpollCtl(l.ep, unix.EPOLL_CTL_MOD, int(c.fd), &ev); e != 0 {
			return e
		}
	}
	c.state = connWriting
	return 0
}

func (l *loop) handle(ev unix.EpollEvent) {
	c := &l.conns[ev.Fd]
	if c.fd < 0 || c.gen != uint32(ev.Pad) {
		return // a connection closed since
	}
	if ev.Events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		c.hup = true
	}
	switch c.state {
	case connIdle:
		c.readable = true
	case connWriting:
		switch {
		case ev.Events&unix.EPOLLERR != 0:
			e := rawSocketError(int(c.fd))
			if e == 0 {
				e = unix.ECONNRESET
			}
			l.finish(c, e)
		case ev.Events&unix.EPOLLOUT != 0:
			gen := c.gen
			if e := l.write(c); e != 0 {
				l.finish(c, e)
				return
			}
			if c.gen == gen && c.state == connReading && ev.Events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP) != 0 {
				l.read(c)
			}
		case ev.Events&unix.EPOLLHUP != 0:
			l.finish(c, unix.ECONNRESET)
		}
	case connReading:
		if ev.Events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
			l.read(c)
		}
	}
}

// read takes what the socket holds and feeds it to the response.
func (l *loop) read(c *conn) {
	c.readable = false
	for {
		n, e := rawRead(int(c.fd), l.buf)
		switch {
		case e == unix.EAGAIN:
			return
		case e == unix.EINTR:
			continue
		case e != 0:
			l.finish(c, e)
			return
		case n == 0:
			c.resp.close = true
			l.finish(c, c.resp.eof())
			return
		}
		if done, err := c.resp.feed(l.buf[:n], &l.names, l); done {
			l.finish(c, err)
			return
		}
		if n < len(l.buf) && !c.hup {
			// The socket is empty now and whatever comes next is a new edge;
			// but a FIN that came with the data shows only in the next read.
			return
		}
	}
}

// finish ends c's request: records it, keeps or closes the connection,
// and frees the client. In open loop a due request goes out at once, its
// latency running from when it was due anyway. In closed loop the next
// request goes out after the rest of the events the loop has in hand, as
// in wrk, whose response callback only asks for the socket to become
// writable and whose clock starts at the write (src/wrk.c): a latency
// that starts before the loop could send would also hold its wait behind
// the other connections' responses. c may carry a next request when
// finish returns.
func (l *loop) finish(c *conn, err error) {
	now := l.settle(c, err)
	l.ready = append(l.ready, c.self/int32(l.perClient))
	if l.r.open() {
		l.issue(now)
	}
}

// settle records c's request as ended at now, which it returns, and keeps
// or closes its connection; it leaves the client to the caller.
func (l *loop) settle(c *conn, err error) int64 {
	now := l.r.now()
	l.unqueue(c)
	l.completed++
	l.rec.record(now, c.scheduled, c.fresh, c.resp.server, err, &l.names)
	if observe := l.r.cfg.Observe; observe != nil {
		observe(l.r.start.Add(time.Duration(c.scheduled)), l.r.start.Add(time.Duration(now)), err)
	}
	c.resp.giveBack(l)
	if err == nil && l.r.cfg.KeepAlive && !c.resp.close {
		c.state = connIdle
	} else {
		l.closeConn(c)
	}
	return now
}

func (l *loop) closeConn(c *conn) {
	if c.fd >= 0 {
		rawClose(int(c.fd)) // also removes it from the epoll instance
		c.fd = -1
		c.gen++
	}
	c.state = connIdle
}

// expire fails the requests whose timeout has passed.
func (l *loop) expire(now int64) {
	for l.head >= 0 && l.conns[l.head].deadline <= now {
		l.finish(&l.conns[l.head], errTimeout)
	}
}

// wait returns the number of events ready, waiting for them (parked in Go's
// poller) until the next deadline: the oldest request's timeout, the next
// scheduled request (open loop, a client free) or the end of the run.
func (l *loop) wait(now int64) int {
	wake := l.r.length
	if l.head >= 0 {
		wake = min(wake, l.conns[l.head].deadline)
	}
	if l.r.open() && len(l.ready) > 0 && !l.exhausted {
		wake = min(wake, l.r.scheduled(l.nextSeq))
	}
	for _, b := range l.backing {
		wake = min(wake, b.until)
	}
	if wake <= now {
		return rawEpollPoll(l.ep, l.events)
	}
	// A deadline set earlier than needed is kept (it wakes the loop once
	// for nothing): setting one costs more than a spare wake-up.
	if l.armed <= now || l.armed > wake {
		l.epf.SetReadDeadline(l.r.start.Add(time.Duration(wake)))
		l.armed = wake
	}
	if l.stop.Load() {
		return 0 // halt may have set its deadline before ours
	}
	l.nready = 0
	if err := l.rc.Read(l.pollFn); err != nil {
		return 0
	}
	return l.nready
}

func (l *loop) enqueue(ci int32) {
	c := &l.conns[ci]
	c.prev, c.next = l.tail, -1
	if l.tail >= 0 {
		l.conns[l.tail].next = ci
	} else {
		l.head = ci
	}
	l.tail = ci
	l.inflight++
}

func (l *loop) unqueue(c *conn) {
	if c.prev >= 0 {
		l.conns[c.prev].next = c.next
	} else {
		l.head = c.next
	}
	if c.next >= 0 {
		l.conns[c.next].prev = c.prev
	} else {
		l.tail = c.prev
	}
	c.prev, c.next = -1, -1
	l.inflight--
}

// lend and take keep the buffers of header lines split across reads.
func (l *loop) lend() []byte {
	if n := len(l.lines); n > 0 {
		b := l.lines[n-1]
		l.lines = l.lines[:n-1]
		return b
	}
	return make([]byte, 0, maxHeader) // a line never outgrows the header bound
}

func (l *loop) take(b []byte) { l.lines = append(l.lines, b) }
