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

	"github.com/lvslab/lvslab/topology"
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
	done    map[string]chan struct{} // by node, to stop its watch
}

// watchAddrs subscribes to the address changes of every director, from
// inside its namespace, until the run ends.
func (e *env) watchAddrs() error {
	e.addrs = &addrLog{changed: make(chan struct{}), done: map[string]chan struct{}{}}
	for _, n := range e.lab.Directors() {
		if err := e.addrs.watch(n); err != nil {
			return err
		}
	}
	return nil
}

// watch subscribes to the address changes of one director.
func (l *addrLog) watch(n *topology.Node) error {
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
	l.mu.Lock()
	l.done[n.Name] = done
	l.mu.Unlock()
	go func() {
		for u := range updates {
			a, _ := netip.AddrFromSlice(u.LinkAddress.IP)
			l.record(addrEvent{At: time.Now(), Node: n.Name, Addr: a.Unmap(), New: u.NewAddr})
		}
	}()
	return nil
}

// unwatch stops watching a director, whose namespace is about to go:
// the watch's socket would keep it alive.
func (l *addrLog) unwatch(node string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if d := l.done[node]; d != nil {
		close(d)
		delete(l.done, node)
	}
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
	for node := range l.done {
		l.unwatch(node)
	}
}

// changes are the changes at or after since, in order.
func (l *addrLog) changes(since time.Time) []addrEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []addrEvent
	for _, ev := range l.events {
		if !ev.At.Before(since) {
			out = append(out, ev)
		}
	}
	return out
}
