//go:build linux

package ipvsadm

import (
	"bytes"
	"strings"
	"testing"

	"github.com/lvslab/lvslab/harness"
)

func TestSyntheticKubernetesScale(t *testing.T) {
	tab, err := Synthetic(KubernetesScale)
	if err != nil {
		t.Fatal(err)
	}
	if s, r := tab.Counts(); s != 5000 || r != 20000 {
		t.Fatalf("%d services, %d real servers; want 5000, 20000", s, r)
	}
	inv := tab.Inventory()
	if len(inv.RealServers) != 2000 {
		t.Errorf("%d real-server addresses, want 2000", len(inv.RealServers))
	}
	if len(inv.VIPs6) != 0 || len(inv.VIPs4) < 2500 || len(inv.VIPs4) >= 5000 {
		t.Errorf("%d IPv4 VIPs and %d IPv6: want services to share VIPs as Kubernetes' ports do", len(inv.VIPs4), len(inv.VIPs6))
	}
	for _, v := range inv.VIPs4 {
		if !ClusterIPs.Contains(v) {
			t.Fatalf("VIP %s outside %s", v, ClusterIPs)
		}
	}
	for _, rs := range inv.RealServers {
		if !PodIPs.Contains(rs.Addr) || len(rs.Listen) < 1 || len(rs.Listen) > 6 {
			t.Fatalf("pod %s listens on %v: want a few ports, in %s", rs.Addr, rs.Listen, PodIPs)
		}
	}
	if len(inv.Methods) != 1 || inv.Methods[0] != harness.MethodNAT {
		t.Errorf("methods %v, want nat only", inv.Methods)
	}
	persistent, udp := 0, 0
	for _, s := range tab.Services {
		if s.Scheduler != "rr" {
			t.Fatalf("%s has scheduler %s", s.Key(), s.Scheduler)
		}
		if s.Persistence == AffinityTimeout {
			persistent++
		}
		if s.Protocol == "udp" {
			udp++
		}
	}
	if persistent < 300 || persistent > 800 || udp == 0 {
		t.Errorf("%d persistent and %d UDP services of 5000: want about a tenth with affinity, and some UDP", persistent, udp)
	}
}

func TestSyntheticWritesItsLines(t *testing.T) {
	c := SyntheticConfig{Seed: 7, Services: 40, Reals: 120, Pods: 10, Affinity: 0.5}
	tab, err := Synthetic(c)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	Write(&b, tab)
	again, err := Parse("synthetic", &b)
	if err != nil {
		t.Fatal(err)
	}
	if d := Diff(tab, again); d != nil {
		t.Fatalf("written and read back: %v", d)
	}
	for i, s := range tab.Services {
		if s.Line != again.Services[i].Line {
			t.Fatalf("%s is at line %d of its own writing, says %d", s.Key(), again.Services[i].Line, s.Line)
		}
		for j, r := range s.Reals {
			if r.Line != again.Services[i].Reals[j].Line {
				t.Fatalf("real server %s of %s: line %d, written at %d", r.Addr, s.Key(), r.Line, again.Services[i].Reals[j].Line)
			}
		}
	}
}

func TestSyntheticIsDeterministic(t *testing.T) {
	write := func(c SyntheticConfig) string {
		tab, err := Synthetic(c)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		Write(&b, tab)
		return b.String()
	}
	c := SyntheticConfig{Seed: 3, Services: 200, Reals: 900, Pods: 50, Affinity: 0.2}
	first := write(c)
	if write(c) != first {
		t.Error("one seed gave two tables")
	}
	c.Seed++
	if write(c) == first {
		t.Error("two seeds gave one table")
	}
}

func TestSyntheticRefusesWhatCannotBe(t *testing.T) {
	for _, c := range []SyntheticConfig{
		{Services: 0, Reals: 1, Pods: 1},
		{Services: 10, Reals: 5, Pods: 3},
		{Services: 1, Reals: 5, Pods: 2},
		{Services: 1, Reals: 1, Pods: 70000},
		{Services: 1, Reals: 1, Pods: 1, Affinity: 2},
	} {
		if _, err := Synthetic(c); err == nil || !strings.HasPrefix(err.Error(), "synthetic table: ") {
			t.Errorf("%+v: error %v", c, err)
		}
	}
}

// BenchmarkParseKubernetesScale reads the 25,000-line table.
func BenchmarkParseKubernetesScale(b *testing.B) {
	tab, err := Synthetic(KubernetesScale)
	if err != nil {
		b.Fatal(err)
	}
	var text bytes.Buffer
	Write(&text, tab)
	b.SetBytes(int64(text.Len()))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("k8s", bytes.NewReader(text.Bytes())); err != nil {
			b.Fatal(err)
		}
	}
}
