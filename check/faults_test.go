//go:build linux

package check

import (
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/lvslab/lvslab/harness/keepalived/conf"
)

// healthConf has one service with every kind of checker the plan treats
// differently; the NAT pair's service (quorum, sorry server) is second.
const healthConf = `
virtual_server 192.0.2.10 80 {
    delay_loop 4
    lb_algo rr
    lb_kind NAT
    protocol TCP
    inhibit_on_failure
    real_server 198.51.100.21 80 {
        HTTP_GET {
            url {
                path /a
                status_code 200-599
            }
            url {
                path /b
            }
        }
        TCP_CHECK {
            connect_timeout 2
        }
    }
    real_server 198.51.100.22 80 {
        TCP_CHECK {
            connect_port 81
        }
        MISC_CHECK {
            misc_path "/usr/local/bin/check.sh 198.51.100.22"
        }
    }
    real_server 198.51.100.24 80 {
        MISC_CHECK {
            misc_path "/usr/local/bin/check.sh 198.51.100.24"
        }
        MISC_CHECK {
            misc_path /usr/local/bin/other.sh
        }
    }
    real_server 198.51.100.23 80 {
        SMTP_CHECK {
        }
        PING_CHECK {
        }
        UDP_CHECK {
            connect_ip 198.51.100.99
        }
    }
}

virtual_server 203.0.113.10 80 {
    delay_loop 6
    lb_algo wlc
    lb_kind NAT
    protocol TCP
    quorum 2
    hysteresis 1
    sorry_server 198.51.100.99 8080
    real_server 198.51.100.11 8080 {
        weight 3
        HTTP_GET {
            url {
                path /healthz
                status_code 200
            }
            connect_timeout 3
            retry 2
            delay_before_retry 2
        }
    }
    real_server 198.51.100.13 8080 {
        weight 1
        TCP_CHECK {
            connect_timeout 3
        }
    }
}
`

func readHealthConf(t *testing.T) *conf.File {
	t.Helper()
	f, err := conf.ReadFS(fstest.MapFS{"keepalived.conf": {Data: []byte(healthConf)}}, "keepalived.conf", conf.Options{NoConfigID: true})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestPlanHealth(t *testing.T) {
	cases, skipped := planHealth(readHealthConf(t))
	var ids []string
	byID := map[string]healthCase{}
	for _, c := range cases {
		ids = append(ids, c.ID)
		byID[c.ID] = c
	}
	want := []string{
		// First service: the first real server of each kind of checker.
		"health/198.51.100.21:80/refused", "health/198.51.100.21:80/blackholed", "health/198.51.100.21:80/wrong-status",
		"health/198.51.100.21:80/unreachable",
		"health/198.51.100.22:80/script-fails",
		// Another script is another checker; the same script is not.
		"health/198.51.100.24:80/script-fails",
		"health/198.51.100.23/blackholed", "health/198.51.100.23/unreachable",
		// The NAT pair's service.
		"health/198.51.100.11:8080/refused", "health/198.51.100.11:8080/blackholed", "health/198.51.100.11:8080/wrong-status",
		"health/198.51.100.11:8080/unreachable",
		"health/198.51.100.13:8080/refused", "health/198.51.100.13:8080/blackholed", "health/198.51.100.13:8080/unreachable",
	}
	if !slices.Equal(ids, want) {
		t.Errorf("cases\n%s\nwant\n%s", strings.Join(ids, "\n"), strings.Join(want, "\n"))
	}
	var skippedIDs []string
	for _, r := range skipped {
		skippedIDs = append(skippedIDs, r.ID)
		if r.Status != NotChecked || r.Reason == "" {
			t.Errorf("%s: %s %q, want not checked with a reason", r.ID, r.Status, r.Reason)
		}
	}
	if !slices.Equal(skippedIDs, []string{"health/198.51.100.23:80/SMTP_CHECK", "health/198.51.100.99:80/UDP_CHECK"}) {
		t.Errorf("not checked %v", skippedIDs)
	}

	// A refused port fails the HTTP_GET and the TCP_CHECK on it: out with
	// the first, back with the last.
	refused := byID["health/198.51.100.21:80/refused"]
	if len(refused.Checkers) != 2 || !refused.Inhibit {
		t.Errorf("refused: %d checkers, inhibit %v", len(refused.Checkers), refused.Inhibit)
	}
	// TCP_CHECK: R×D = 1 s to 4 s + 1 s; HTTP_GET with two URLs: 3 s to 7 s.
	if refused.Down.Min != time.Second || refused.Down.Max != 5*time.Second {
		t.Errorf("refused down %s to %s (%s)", refused.Down.Min, refused.Down.Max, refused.Down.Formula)
	}
	// HTTP_GET: a success within max(L, D) = 4 s, then two URLs 4 s apart.
	if refused.Up.Min != 8*time.Second || refused.Up.Max != 12*time.Second {
		t.Errorf("refused up %s to %s (%s)", refused.Up.Min, refused.Up.Max, refused.Up.Formula)
	}
	// A wrong status fails the HTTP_GET only, with a status neither URL
	// accepts (/a takes 200-599).
	ws := byID["health/198.51.100.21:80/wrong-status"]
	if len(ws.Checkers) != 1 || ws.Checkers[0].Kind != "HTTP_GET" {
		t.Errorf("wrong status fails the HTTP_GET alone: %d checkers", len(ws.Checkers))
	}
	if ws.Why == "" {
		t.Errorf("status_code 200-599 of /a accepts every status the lab answers with; got %v", ws.Answers)
	}
	ws = byID["health/198.51.100.11:8080/wrong-status"]
	if ws.Why != "" || ws.Answers["/healthz"] != 500 {
		t.Errorf("/healthz with status_code 200: answers %v, %q", ws.Answers, ws.Why)
	}
	// The TCP_CHECK on port 81 is another port: the real server's first
	// TCP_CHECK of this kind was picked already, and a MISC_CHECK fails
	// alone; the real server inherits inhibit_on_failure.
	misc := byID["health/198.51.100.22:80/script-fails"]
	if len(misc.Checkers) != 1 || misc.Misc.Line == 0 || !misc.Inhibit {
		t.Errorf("script-fails: %+v", misc)
	}
	if misc.Down.Min != 0 || misc.Down.Max != 4*time.Second {
		t.Errorf("MISC_CHECK down %s to %s, want retry 0: within delay_loop", misc.Down.Min, misc.Down.Max)
	}
	// The unreachable route fails every network checker of the address.
	un := byID["health/198.51.100.23/unreachable"]
	if len(un.Checkers) != 1 || un.Checkers[0].Kind != "PING_CHECK" {
		t.Errorf("unreachable fails the PING_CHECK (the UDP_CHECK probes another address, SMTP_CHECK is not emulated): %d", len(un.Checkers))
	}
	bh := byID["health/198.51.100.11:8080/blackholed"]
	if bh.Down.Min != 13*time.Second || bh.Down.Max != 19*time.Second || bh.Up.Max != 15*time.Second {
		t.Errorf("blackholed: down %s to %s, up ≤ %s", bh.Down.Min, bh.Down.Max, bh.Up.Max)
	}
}

func TestFaultsOf(t *testing.T) {
	for _, c := range []struct {
		c      conf.Checker
		faults []string
	}{
		{conf.Checker{Kind: "TCP_CHECK"}, []string{faultRefused, faultBlackholed, faultUnreachable}},
		{conf.Checker{Kind: "SSL_GET"}, []string{faultRefused, faultBlackholed, faultWrongStatus, faultUnreachable}},
		{conf.Checker{Kind: "UDP_CHECK"}, []string{faultRefused, faultUnreachable}},
		{conf.Checker{Kind: "UDP_CHECK", RequireRep: conf.Setting[bool]{Value: true, Set: true}}, nil},
		{conf.Checker{Kind: "PING_CHECK"}, []string{faultBlackholed, faultUnreachable}},
		{conf.Checker{Kind: "MISC_CHECK"}, []string{faultScript}},
		{conf.Checker{Kind: "DNS_CHECK"}, nil},
		{conf.Checker{Kind: "SMTP_CHECK"}, nil},
		{conf.Checker{Kind: "BFD_CHECK"}, nil},
		{conf.Checker{Kind: "FILE_CHECK"}, nil},
		{conf.Checker{Kind: "HTTP_GET", Dropped: true}, nil},
	} {
		got, why := faultsOf(c.c)
		if !slices.Equal(got, c.faults) || (got == nil) != (why != "") {
			t.Errorf("%s (dropped %v): %v %q, want %v", c.c.Kind, c.c.Dropped, got, why, c.faults)
		}
	}
}

func TestWrongStatus(t *testing.T) {
	codes := func(rs ...conf.StatusRange) []conf.URL { return []conf.URL{{StatusCodes: rs}} }
	for _, c := range []struct {
		urls []conf.URL
		want int
	}{
		{[]conf.URL{{}}, 500},
		{codes(conf.StatusRange{Min: 200, Max: 299}, conf.StatusRange{Min: 500, Max: 500}), 503},
		{codes(conf.StatusRange{Min: 400, Max: 599}), 302},
		{codes(conf.StatusRange{Min: 100, Max: 599}), 0},
	} {
		got, ok := wrongStatus(c.urls)
		if got != c.want || ok != (c.want != 0) {
			t.Errorf("%+v: %d %v, want %d", c.urls, got, ok, c.want)
		}
	}
}

func TestQuorum(t *testing.T) {
	set := func(n int) conf.Setting[int] { return conf.Setting[int]{Value: n, Set: true} }
	nat := quorumOf(conf.VirtualServer{Quorum: set(2), Hysteresis: set(1)}, []int{3, 3, 1})
	if nat.quorum != 2 || nat.hysteresis != 1 {
		t.Fatalf("%+v", nat)
	}
	// Lost below quorum − hysteresis = 1, i.e. at 0; back at 3.
	for live, lost := range map[int]bool{0: true, 1: false, 3: false} {
		if nat.lost(live) != lost {
			t.Errorf("lost(%d) = %v", live, !lost)
		}
	}
	if nat.gained(2) || !nat.gained(3) {
		t.Error("gained is quorum + hysteresis = 3")
	}
	capped := quorumOf(conf.VirtualServer{Quorum: set(10), Hysteresis: set(12)}, []int{2, 2})
	if capped.quorum != 4 || capped.hysteresis != 3 || !strings.Contains(capped.words, "lowers it") {
		t.Errorf("capped %+v", capped)
	}
	def := quorumOf(conf.VirtualServer{}, []int{1, 1})
	if def.quorum != 1 || def.hysteresis != 0 || def.words != "quorum 1 (default), hysteresis 0 (default)" {
		t.Errorf("defaults %+v", def)
	}

	all := []bool{true, true, true}
	fail, ok := sorryFaults([]int{3, 3, 1}, all, all, nat)
	if !ok || !slices.Equal(fail, []int{0, 1, 2}) {
		t.Errorf("NAT pair: fail %v %v, want all three (live must reach 0)", fail, ok)
	}
	q5 := quorumOf(conf.VirtualServer{Quorum: set(5)}, []int{1, 4, 2})
	if fail, ok := sorryFaults([]int{1, 4, 2}, all, all, q5); !ok || !slices.Equal(fail, []int{1}) {
		t.Errorf("quorum 5 of 7: fail %v %v, want the weight 4 alone", fail, ok)
	}
	if fail, ok := sorryFaults([]int{1, 4, 2}, all, []bool{true, false, true}, q5); !ok || !slices.Equal(fail, []int{2, 0}) {
		t.Errorf("quorum 5 with the weight 4 unfailable: fail %v %v, want the 2 then the 1", fail, ok)
	}
	q2 := quorumOf(conf.VirtualServer{Quorum: set(2)}, []int{1, 4, 2})
	if _, ok := sorryFaults([]int{1, 4, 2}, all, []bool{true, false, true}, q2); ok {
		t.Error("a weight 4 that cannot fail keeps quorum 2")
	}
	if _, ok := sorryFaults([]int{3, 3, 1}, all, []bool{true, true, false}, nat); ok {
		t.Error("a weight 1 server that cannot fail keeps quorum")
	}
}

func TestBatchLanes(t *testing.T) {
	nat := quorumRule{quorum: 2, hysteresis: 1}
	rules := map[string]quorumRule{"a": nat, "b": {quorum: 1}}
	live := map[string]int{"a": 7, "b": 2}
	lanes := []laneLoad{{"a": 3}, {"a": 3}, {"a": 1}, {"b": 1}, {"b": 1}}
	got := batchLanes(lanes, live, rules)
	want := [][]int{{0, 1, 3}, {2, 4}}
	if len(got) != len(want) || !slices.Equal(got[0], want[0]) || !slices.Equal(got[1], want[1]) {
		t.Errorf("batches %v, want %v", got, want)
	}
}
