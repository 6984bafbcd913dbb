//go:build linux

package check

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// A director's VIPs appearing and going are the instants a takeover is
// timed by: keepalived adds them before its gratuitous ARPs and its
// notification, so they are the earliest sign the master changed.

// addrEvent is an address added to or removed from a director's link.
type addrEvent struct {
	At   time.Time
	Node string
	Addr netip.Addr
	New  bool
}

// addrLog keeps every address change of the directors, in order.
type addrLog struct {
	mu      sync.Mutex
	events  []addrEvent
	changed chan struct{}
	done    []chan struct{}
}

// watchAddrs subscribes to the address changes of every director, from
// inside its namespace, until the run ends.
func (e *env) watchAddrs() error {
	e.addrs = &addrLog{changed: make(chan struct{})}
	for _, n := range e.lab.Directors() {
		ns, err := netns.GetFromPath(n.NsPath())
		if err != nil {
			return fmt.Errorf("open namespace of %s: %w", n.Name, err)
		}
		updates := make(chan netlink.AddrUpdate, 256)
		done := make(chan struct{})
		err = netlink.AddrSubscribeWithOptions(updates, done, netlink.AddrSubscribeOptions{Namespace: &ns})
		ns.Close()
		if err != nil {
			return fmt.Errorf("watch the addresses of %s: %w", n.Name, err)
		}
		e.addrs.done = append(e.addrs.done, done)
		go func() {
			for u := range updates {
				a, _ := netip.AddrFromSlice(u.LinkAddress.IP)
				e.addrs.record(addrEvent{At: time.Now(), Node: n.Name, Addr: a.Unmap(), New: u.NewAddr})
			}
		}()
	}
	return nil
}

func (l *addrLog) record(ev addrEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, ev)
	close(l.changed)
	l.changed = make(chan struct{})
}

// wait waits for the first change at or after since that match accepts.
func (l *addrLog) wait(ctx context.Context, since time.Time, match func(addrEvent) bool) (addrEvent, error) {
	for {
		l.mu.Lock()
		for _, ev := range l.events {
			if !ev.At.Before(since) && match(ev) {
				l.mu.Unlock()
				return ev, nil
			}
		}
		changed := l.changed
		l.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return addrEvent{}, ctx.Err()
		}
	}
}

func (l *addrLog) close() {
	if l == nil {
		return
	}
	for _, d := range l.done {
		close(d)
	}
}
