//go:build linux

package check

import (
	"errors"
	"net/netip"
	"testing"
	"time"
)

func TestCountDrain(t *testing.T) {
	t0 := time.Unix(1000, 0)
	change, changed := t0.Add(2*time.Second), t0.Add(2*time.Second+10*time.Millisecond)
	a, b := netip.MustParseAddr("203.0.113.1"), netip.MustParseAddr("203.0.113.2")
	at := func(d time.Duration, src netip.Addr, server string) reply {
		return reply{server: server, src: src, sent: t0.Add(d)}
	}
	replies := []reply{
		at(0, a, "rs2"), at(time.Second, b, "rs1"),
		at(2*time.Second+5*time.Millisecond, b, "rs2"), // sent while the weight changed: neither side
		at(3*time.Second, a, "rs2"),                    // a was on rs2 before: its template keeps it
		at(3*time.Second, b, "rs2"),                    // b was not: a new connection on a drained server
		at(4*time.Second, b, "rs1"),
		{src: a, sent: t0.Add(4 * time.Second), err: errors.New("refused")},
	}
	c := countDrain(replies, "rs2", change, changed, 32, true)
	want := drainCount{sentBefore: 2, sentAfter: 4, before: 1, after: 1, kept: 1}
	if c != want {
		t.Errorf("with templates keeping clients: %+v, want %+v", c, want)
	}
	c = countDrain(replies, "rs2", change, changed, 32, false)
	want.after, want.kept = 2, 0
	if c != want {
		t.Errorf("without: %+v, want %+v", c, want)
	}
}
