//go:build linux

package check

import (
	"net/netip"
	"os"
	"slices"
	"testing"
)

// testdata/nft/marks.json is `nft -j list ruleset` of marks.nft, loaded
// by nft 1.0.6 in a namespace of its own.
func TestMarkTargets(t *testing.T) {
	data, err := os.ReadFile("testdata/nft/marks.json")
	if err != nil {
		t.Fatal(err)
	}
	rules, err := nftRules(data)
	if err != nil {
		t.Fatal(err)
	}
	vips := []netip.Addr{netip.MustParseAddr("203.0.113.5"), netip.MustParseAddr("203.0.113.20")}
	got := markTargets(rules, vips)
	tg := func(proto, ap string) target { return target{proto: proto, addr: netip.MustParseAddrPort(ap)} }
	want := map[int][]target{
		1: {tg("tcp", "203.0.113.20:80"), tg("tcp", "203.0.113.20:443")},
		// a prefix: the VIPs it holds; a range: its first port
		2: {tg("udp", "203.0.113.5:53")},
		3: {tg("tcp", "203.0.113.21:8080"), tg("tcp", "203.0.113.22:8080")},
		// no address: the VIPs
		4: {tg("tcp", "203.0.113.5:25"), tg("tcp", "203.0.113.20:25")},
		// no port: port 80
		7: {tg("udp", "[2001:db8::20]:80")},
	}
	for mark, ts := range want {
		if !slices.Equal(got[mark], ts) {
			t.Errorf("mark %d: got %v, want %v", mark, got[mark], ts)
		}
	}
	// A negated match and a conntrack mark are not read as marks.
	for _, mark := range []int{5, 6} {
		if _, ok := got[mark]; ok {
			t.Errorf("mark %d read from a rule that does not set it for a destination: %v", mark, got[mark])
		}
	}
	if d := describeMarks(map[int][]target{1: want[1]}); d != "mark 1: tcp 203.0.113.20:80, tcp 203.0.113.20:443" {
		t.Errorf("describeMarks = %q", d)
	}
}

func TestNftRulesRejectsGarbage(t *testing.T) {
	if _, err := nftRules([]byte("table ip x {")); err == nil {
		t.Error("nft text read as JSON")
	}
}
