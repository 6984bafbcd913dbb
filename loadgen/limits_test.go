//go:build linux

package loadgen

import (
	"net/netip"
	"strings"
	"testing"
)

func TestLimitsSayHowManyClientsTheyCarry(t *testing.T) {
	four := make([]Target, 4)
	c := Config{Clients: 260, Targets: four[:1]}
	if err := c.CheckLimits(Limits{Files: 256, Ports: 28232}); err == nil || !strings.Contains(err.Error(), "ulimit -n 256 allows (192 clients): raise it (ulimit -n 324)") {
		t.Errorf("260 clients under ulimit -n 256: %v", err)
	}
	if err := c.CheckLimits(Limits{Files: 1024, Ports: 28232}); err != nil {
		t.Errorf("260 clients under ulimit -n 1024: %v", err)
	}
	c.KeepAlive, c.Targets = true, four // a connection per client and target
	if files, _ := c.ClientsFor(Limits{Files: 1024}); files != 240 {
		t.Errorf("keep-alive over 4 targets under ulimit -n 1024: %d clients, want 240", files)
	}
	c.Sources = []netip.Addr{{}, {}}
	if _, ports := c.ClientsFor(Limits{Ports: 100}); ports != 200 {
		t.Errorf("100 ports over 2 source addresses: %d clients, want 200", ports)
	}
	c.KeepAlive, c.Clients = false, 201
	if err := c.CheckLimits(Limits{Files: 1 << 20, Ports: 100}); err == nil || !strings.Contains(err.Error(), "ip_local_port_range") {
		t.Errorf("201 clients over 200 ports: %v", err)
	}
}

func TestPortRange(t *testing.T) {
	if n, err := portsIn("32768\t60999\n"); n != 28232 || err != nil {
		t.Errorf("default range: %d, %v", n, err)
	}
	for _, bad := range []string{"", "1", "9 2", "a b"} {
		if _, err := portsIn(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
