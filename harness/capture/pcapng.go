package capture

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// Packet is one captured frame of the link with index Link in a capture's
// list of links.
type Packet struct {
	Link      int
	Timestamp time.Time
	// Length is the frame's length on the wire; Data may be shorter
	// (the snap length).
	Length int
	Data   []byte
}

// Sink takes a capture's packets, from one goroutine per link at once. A
// packet's Data is the reader's buffer, valid only during the call: a sink
// that keeps packets copies them (Ring does).
type Sink interface {
	Packet(Packet) error
}

// Interface names one captured link in the file: "node:link".
type Interface struct {
	Node, Link string
	Filter     string
	SnapLen    int
}

// Name is the interface block's name.
func (i Interface) Name() string { return i.Node + ":" + i.Link }

// Writer streams packets to a pcapng file as they come, one interface
// block per link. Close flushes it; a reader sees a complete file up to
// the last packet written whenever Close ran.
type Writer struct {
	mu     sync.Mutex
	ng     *pcapgo.NgWriter
	links  int
	closed bool
}

// NewWriter writes the section header and the links' interface blocks.
func NewWriter(w io.Writer, links []Interface) (*Writer, error) {
	if len(links) == 0 {
		return nil, fmt.Errorf("pcapng: no link to capture")
	}
	ng, err := pcapgo.NewNgWriterInterface(w, ngInterface(links[0]), pcapgo.NgWriterOptions{
		SectionInfo: pcapgo.NgSectionInfo{Application: "lvslab capture"},
	})
	if err != nil {
		return nil, fmt.Errorf("pcapng: write header: %w", err)
	}
	for _, l := range links[1:] {
		if _, err := ng.AddInterface(ngInterface(l)); err != nil {
			return nil, fmt.Errorf("pcapng: add interface %s: %w", l.Name(), err)
		}
	}
	// The header goes out now, so that a reader of a stream (wireshark -k
	// -i -) knows the links before the first packet.
	if err := ng.Flush(); err != nil {
		return nil, fmt.Errorf("pcapng: write header: %w", err)
	}
	return &Writer{ng: ng, links: len(links)}, nil
}

func ngInterface(l Interface) pcapgo.NgInterface {
	return pcapgo.NgInterface{
		Name:                l.Name(),
		Description:         fmt.Sprintf("link %s of lab node %s", l.Link, l.Node),
		Filter:              l.Filter,
		OS:                  "linux",
		LinkType:            layers.LinkTypeEthernet,
		TimestampResolution: 9,
		SnapLength:          uint32(l.SnapLen),
	}
}

// Packet writes one packet.
func (w *Writer) Packet(p Packet) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return fmt.Errorf("pcapng: write after close")
	}
	return w.write(p)
}

func (w *Writer) write(p Packet) error {
	if p.Link < 0 || p.Link >= w.links {
		return fmt.Errorf("pcapng: packet of link %d, the file has %d", p.Link, w.links)
	}
	ci := gopacket.CaptureInfo{Timestamp: p.Timestamp, CaptureLength: len(p.Data), Length: max(p.Length, len(p.Data)), InterfaceIndex: p.Link}
	if err := w.ng.WritePacket(ci, p.Data); err != nil {
		return fmt.Errorf("pcapng: write packet: %w", err)
	}
	return nil
}

// Flush writes out what is buffered, so that a stream's reader sees the
// packets so far.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ng.Flush()
}

// FlushEvery flushes the file every interval until stop is called, so
// that a reader of a stream sees packets soon after they come without a
// write per packet, which costs a capture its packets on a busy link.
func (w *Writer) FlushEvery(interval time.Duration) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				// A failed flush shows again at Close, which reports it.
				_ = w.Flush()
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

// Close flushes the file; later packets are refused.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	if err := w.ng.Flush(); err != nil {
		return fmt.Errorf("pcapng: flush: %w", err)
	}
	return nil
}
