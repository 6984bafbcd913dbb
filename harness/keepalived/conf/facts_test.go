package conf

import (
	"os"
	"slices"
	"testing"
)

// testdata/nat-lb1.* are the data files keepalived 2.2.7 wrote on SIGUSR1
// for fixtures/keepalived/nat/lb1.conf run as lb1 (in lvslab vm, kernel
// 6.1; the interfaces section cut off). The byo specs of the IPVS suite
// do this for every fixture and sample against a running keepalived.
func TestFactsOfDump(t *testing.T) {
	vrrp, err := os.ReadFile("testdata/nat-lb1.keepalived.data")
	if err != nil {
		t.Fatal(err)
	}
	check, err := os.ReadFile("testdata/nat-lb1.keepalived_check.data")
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := ParseDump(string(vrrp), string(check))
	if err != nil {
		t.Fatal(err)
	}
	f := readFixture(t, "nat/lb1.conf", "lb1")
	Defaults(f, "2.2.7")
	mine := f.Facts()
	if d := theirs.Diff(mine); len(d) > 0 {
		t.Errorf("keepalived (-) and the reader (+) differ:\n%q", d)
	}
	for _, want := range []string{
		"instance VI_front priority = 150",
		"vs [203.0.113.10]:tcp:80 rs [198.51.100.11]:tcp:8080 check 1 url /healthz codes 200",
		"vs [203.0.113.10]:tcp:80 sorry_server = [198.51.100.99]:tcp:8080 method NAT inhibit false",
		"sync_group VG_lvs member VI_back",
		"lvs_sync_daemon syncid = 51",
	} {
		if !slices.Contains(theirs, want) {
			t.Errorf("no fact %q in %q", want, theirs)
		}
	}
	// A difference shows on both sides.
	f.Instances[0].Priority.Value = 99
	if d := theirs.Diff(f.Facts()); !slices.Equal(d, []string{"- instance VI_front priority = 150", "+ instance VI_front priority = 99"}) {
		t.Errorf("diff %q", d)
	}
}

func TestParseDumpErrors(t *testing.T) {
	for _, c := range []struct{ vrrp, check string }{
		{"------< VRRP Topology >------\n VRRP Instance = V\n   Advert interval = soon\n", ""},
		{"------< VRRP Topology >------\n VRRP Instance = V\n   Virtual IP (1):\n     nonsense dev x\n", ""},
		{"", "------< Health checkers >------\n [a]:tcp:1 -> [b]:tcp:2\n"},
	} {
		if _, err := ParseDump(c.vrrp, c.check); err == nil {
			t.Errorf("%q %q: no error", c.vrrp, c.check)
		}
	}
}
