//go:build linux

package check

import (
	"net/netip"
	"testing"
	"time"
)

func TestLongestOverlap(t *testing.T) {
	vip, other := netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("192.0.2.20")
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	changes := []addrEvent{
		{At: at(100), Node: "lb2", Addr: vip, New: true},   // two holders from 100 ms
		{At: at(150), Node: "lb2", Addr: other, New: true}, // another address: ignored
		{At: at(400), Node: "lb1", Addr: vip, New: false},  // one again: 300 ms
		{At: at(1000), Node: "lb1", Addr: vip, New: true},  // two again from 1 s
		{At: at(1100), Node: "lb2", Addr: vip, New: false}, // 100 ms
		{At: at(2000), Node: "lb2", Addr: vip, New: true},  // two until the end
	}
	d, from := longestOverlap([]string{"lb1"}, changes, vip, t0, at(2200))
	if d != 300*time.Millisecond || !from.Equal(at(100)) {
		t.Errorf("longest overlap %s from %s, want 300ms from 100ms", d, from.Sub(t0))
	}
	d, _ = longestOverlap([]string{"lb1"}, changes, vip, t0, at(2500))
	if d != 500*time.Millisecond {
		t.Errorf("an overlap still on at the end counts to the end: %s, want 500ms", d)
	}
	d, from = longestOverlap([]string{"lb1", "lb2"}, nil, vip, t0, at(700))
	if d != 700*time.Millisecond || !from.Equal(t0) {
		t.Errorf("two holders from the start: %s from %s", d, from.Sub(t0))
	}
	if d, _ := longestOverlap([]string{"lb1"}, nil, vip, t0, at(700)); d != 0 {
		t.Errorf("one holder throughout: %s", d)
	}
}
