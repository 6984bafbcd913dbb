//go:build linux

package topology

import (
	"strings"
	"testing"
	"time"
)

func TestImpairmentCheckNamesTheRange(t *testing.T) {
	for _, c := range []struct {
		im   Impairment
		want string
	}{
		{Impairment{Delay: 11 * time.Second}, "delay 11s: use 0 to 10s"},
		{Impairment{Delay: -time.Millisecond}, "delay -1ms: use 0 to 10s"},
		{Impairment{Delay: 10 * time.Millisecond, Jitter: 20 * time.Millisecond}, "jitter 20ms: use 0 to the delay (10ms)"},
		{Impairment{Loss: 101}, "loss 101%: use 0 to 100%"},
		{Impairment{Duplicate: -1}, "duplicate -1%: use 0 to 100%"},
		{Impairment{Corrupt: 200}, "corrupt 200%: use 0 to 100%"},
		{Impairment{Reorder: 25}, "reorder 25% needs a delay"},
		{Impairment{Rate: 100}, "rate 100bit: use 8Kbit to 100Gbit"},
	} {
		err := c.im.Check()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: Check() = %v, want %q", c.im, err, c.want)
		}
	}
	ok := Impairment{Delay: 20 * time.Millisecond, Jitter: 5 * time.Millisecond, Loss: 1, Reorder: 25, Rate: 10_000_000}
	if err := ok.Check(); err != nil {
		t.Errorf("%v refused: %v", ok, err)
	}
	if got := ok.String(); got != "delay 20ms jitter 5ms loss 1% reorder 25% rate 10Mbit" {
		t.Errorf("String() = %q", got)
	}
}

func TestParseRateReadsTcUnits(t *testing.T) {
	for in, want := range map[string]uint64{"10mbit": 10_000_000, "1.5Gbit": 1_500_000_000, "64kbit": 64_000, "9000": 9000, "800bit": 800} {
		got, err := ParseRate(in)
		if err != nil || got != want {
			t.Errorf("ParseRate(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "fast", "10mb", "-1mbit", "1e30gbit"} {
		if _, err := ParseRate(in); err == nil || !strings.Contains(err.Error(), "e.g. 10mbit") {
			t.Errorf("ParseRate(%q) = %v, want a refusal showing the form", in, err)
		}
	}
	if got := FormatRate(2_500_000); got != "2.5Mbit" {
		t.Errorf("FormatRate(2.5e6) = %q", got)
	}
}

func TestTopologyFileImpairsALink(t *testing.T) {
	const lab = "name: x\nsegments: [{name: back, ipv4: 192.0.2.0/24}]\nnodes:\n  - name: rs1\n    role: real-server\n    links: [{segment: back, impair: %s}]\n"
	s, err := Parse([]byte(strings.ReplaceAll(lab, "%s", "{delay: 20ms, jitter: 5ms, loss: 1%, reorder: 25, rate: 10mbit}")))
	if err != nil {
		t.Fatal(err)
	}
	want := Impairment{Delay: 20 * time.Millisecond, Jitter: 5 * time.Millisecond, Loss: 1, Reorder: 25, Rate: 10_000_000}
	if got := s.Nodes[0].Links[0].Impair; got != want {
		t.Errorf("impair %+v, want %+v", got, want)
	}
	for in, msg := range map[string]string{
		"{delay: soon}":   `nodes[0] (rs1).links[0].impair.delay "soon": write a duration`,
		"{loss: 150%}":    "nodes[0] (rs1).links[0].impair: loss 150%: use 0 to 100%",
		"{rate: fast}":    `nodes[0] (rs1).links[0].impair.rate "fast"`,
		"{lose: 1%}":      "field lose not found",
		"{corrupt: lots}": `impair.corrupt: "lots" is not a percentage`,
	} {
		_, err := Parse([]byte(strings.ReplaceAll(lab, "%s", in)))
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("impair %s: Parse = %v, want an error saying %q", in, err, msg)
		}
	}
}

func TestImpairmentFlagsNameTheFlag(t *testing.T) {
	err := Impairment{Loss: 101, Jitter: time.Second}.CheckFlags()
	if err == nil || !strings.Contains(err.Error(), "--loss") || !strings.Contains(err.Error(), "--jitter") {
		t.Errorf("CheckFlags: %v", err)
	}
	if (Impairment{}).Words() != "clean" || (Impairment{}).CheckFlags() != nil {
		t.Error("a clean link")
	}
}
