//go:build linux

package keepalived

import (
	"testing"
	"time"
)

// The VRRP timers of RFC 3768/5798 §6.1 at the lab's settings.
func TestVRRPTimers(t *testing.T) {
	v2 := Options{}
	v3 := Options{Version: 3, Advert: 100 * time.Millisecond}
	for _, c := range []struct {
		got, want time.Duration
	}{
		{v2.MasterDownInterval(150), 3414062500},
		{v2.MasterDownInterval(100), 3609375000},
		{v2.SkewTime(100), 609375000},
		{v3.MasterDownInterval(100), 360937500},
	} {
		if c.got != c.want {
			t.Errorf("got %s, want %s", c.got, c.want)
		}
	}
}
