//go:build linux

package keepalived

import "testing"

func TestParseEvent(t *testing.T) {
	for line, want := range map[string]Event{
		`INSTANCE "VI_front" MASTER 150`:                      {Kind: "INSTANCE", Name: "VI_front", State: "MASTER", Priority: 150},
		`GROUP "VG_lvs" BACKUP 0`:                             {Kind: "GROUP", Name: "VG_lvs", State: "BACKUP"},
		`RS [192.0.2.11]:tcp:80 [203.0.113.10]:tcp:80 DOWN`:   {Kind: "RS", Name: "192.0.2.11:80", State: "DOWN"},
		`VS [203.0.113.10]:tcp:80 UP`:                         {Kind: "VS", Name: "203.0.113.10:80", State: "UP"},
		`RS [2001:db8::11]:tcp:80 [2001:db8:f::10]:tcp:80 UP`: {Kind: "RS", Name: "[2001:db8::11]:80", State: "UP"},
		`INSTANCE "VI_back" MASTER_RX_LOWER_PRI 150`:          {Kind: "INSTANCE", Name: "VI_back", State: "MASTER_RX_LOWER_PRI", Priority: 150},
	} {
		got, ok := parseEvent(line)
		if !ok || got != want {
			t.Errorf("parseEvent(%q) = %+v %v, want %+v", line, got, ok, want)
		}
	}
	for _, bad := range []string{"", "HELLO there you", `INSTANCE "x"`} {
		if _, ok := parseEvent(bad); ok {
			t.Errorf("parseEvent(%q) accepted it", bad)
		}
	}
}
