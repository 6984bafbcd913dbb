package capture

import (
	"fmt"
	"io"
	"sync"
)

// Ring keeps the most recent packets of a capture within a bound on their
// number and on their bytes, dropping the oldest first: a test captures
// every link of a lab for its whole run and writes the ring out only if it
// fails, so memory must not grow with the length of the run.
type Ring struct {
	mu       sync.Mutex
	maxBytes int
	slots    []Packet // circular: n packets from start, the oldest first
	start, n int
	bytes    int
	dropped  int
}

// Default bounds of a Ring: enough for the last seconds of a failing
// spec's flows at the rates the suites run, small enough to keep one per
// spec on a runner.
const (
	DefaultRingPackets = 10000
	DefaultRingBytes   = 16 << 20
)

// NewRing makes a ring of at most maxPackets packets and maxBytes bytes of
// packet data (both at least 1).
func NewRing(maxPackets, maxBytes int) (*Ring, error) {
	if maxPackets < 1 || maxBytes < 1 {
		return nil, fmt.Errorf("capture ring: bounds %d packets, %d bytes: both must be at least 1", maxPackets, maxBytes)
	}
	return &Ring{maxBytes: maxBytes, slots: make([]Packet, maxPackets)}, nil
}

// Packet keeps a copy of p, dropping the oldest packets to make room. A
// packet larger than the whole byte bound is kept truncated to it.
func (r *Ring) Packet(p Packet) error {
	if len(p.Data) > r.maxBytes {
		p.Length = max(p.Length, len(p.Data))
		p.Data = p.Data[:r.maxBytes]
	}
	p.Data = append([]byte(nil), p.Data...)
	r.mu.Lock()
	defer r.mu.Unlock()
	for r.n > 0 && (r.n == len(r.slots) || r.bytes+len(p.Data) > r.maxBytes) {
		r.bytes -= len(r.slots[r.start].Data)
		r.slots[r.start] = Packet{}
		r.start = (r.start + 1) % len(r.slots)
		r.n--
		r.dropped++
	}
	r.slots[(r.start+r.n)%len(r.slots)] = p
	r.n++
	r.bytes += len(p.Data)
	return nil
}

// Len is the number of packets held and Dropped how many were dropped to
// stay within the bounds.
func (r *Ring) Len() (held, dropped int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n, r.dropped
}

// WriteTo writes the packets held, oldest first, as a pcapng file with
// the links' interface blocks.
func (r *Ring) WriteTo(w io.Writer, links []Interface) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	pw, err := NewWriter(w, links)
	if err != nil {
		return err
	}
	for i := range r.n {
		if err := pw.write(r.slots[(r.start+i)%len(r.slots)]); err != nil {
			return err
		}
	}
	return pw.Close()
}
