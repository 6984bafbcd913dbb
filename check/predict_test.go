//go:build linux

package check

import (
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/lvslab/lvslab/harness/keepalived/conf"
)

// readConf reads a keepalived.conf given as text.
func readConf(t *testing.T, text string) *conf.File {
	t.Helper()
	f, err := conf.ReadFS(fstest.MapFS{"keepalived.conf": {Data: []byte(text)}}, "keepalived.conf", conf.Options{NoConfigID: true})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func inst(t *testing.T, f *conf.File, name string) conf.Instance {
	t.Helper()
	in, ok := instance(f, name)
	if !ok {
		t.Fatalf("no instance %s", name)
	}
	return in
}

const trackedConf = `
vrrp_script down60 {
    script "/bin/true"
    weight -60
}
vrrp_script up20 {
    script "/bin/true"
    weight 20
}
vrrp_script gate {
    script "/bin/true"
}
vrrp_script flipped {
    script "/bin/true"
    weight 30 reverse
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 1
    priority 150
    track_script {
        down60
        up20
    }
    virtual_ipaddress {
        192.0.2.10
    }
}
vrrp_instance VI_2 {
    interface eth0
    virtual_router_id 2
    priority 100
    track_script {
        gate
        down60 weight -200
    }
    virtual_ipaddress {
        192.0.2.20
    }
}
vrrp_instance VI_3 {
    interface eth0
    virtual_router_id 3
    priority 100
    track_script {
        flipped
    }
    virtual_ipaddress {
        192.0.2.30
    }
}
vrrp_instance VI_owner {
    interface eth0
    virtual_router_id 4
    priority 255
    track_script {
        down60
        gate
    }
    virtual_ipaddress {
        192.0.2.40
    }
}
`

func TestPredictInstanceWeights(t *testing.T) {
	f := readConf(t, trackedConf)
	failing := func(names ...string) func(string) bool {
		return func(s string) bool { return strings.Contains(strings.Join(names, " "), s) }
	}
	for _, c := range []struct {
		inst     string
		bad      []string
		priority int
		fault    bool
	}{
		{"VI_1", nil, 170, false},                           // +20 while up20 succeeds
		{"VI_1", []string{"down60"}, 110, false},            // −60 while down60 fails
		{"VI_1", []string{"up20"}, 150, false},              // +20 gone
		{"VI_1", []string{"down60", "up20"}, 90, false},     // both
		{"VI_2", []string{"gate"}, 100, true},               // weight 0: FAULT
		{"VI_2", []string{"down60"}, 1, false},              // the track entry's −200, kept within 1–254
		{"VI_3", nil, 70, false},                            // reverse: −30 while it succeeds
		{"VI_3", []string{"flipped"}, 100, false},           // and nothing while it fails
		{"VI_owner", []string{"down60"}, 255, false},        // the owner's weights are dropped
		{"VI_owner", []string{"gate"}, 255, true},           // but an unweighted script still faults it
		{"VI_owner", []string{"down60", "gate"}, 255, true}, // both
	} {
		p := predictInstance(f, inst(t, f, c.inst), failing(c.bad...))
		if p.Priority != c.priority || p.Fault != c.fault {
			t.Errorf("%s with %v failing: priority %d fault %v (%s), want %d %v", c.inst, c.bad, p.Priority, p.Fault, p.Words, c.priority, c.fault)
		}
	}
}

const syncConf = `
vrrp_script chk {
    script "/bin/true"
    weight -60
}
vrrp_script gate {
    script "/bin/true"
}
vrrp_sync_group G {
    group {
        VI_a
        VI_b
    }
    track_script {
        gate
    }
}
vrrp_instance VI_a {
    interface eth0
    virtual_router_id 1
    priority 150
    track_script {
        chk
    }
    virtual_ipaddress {
        192.0.2.10
    }
}
vrrp_instance VI_b {
    interface eth1
    virtual_router_id 2
    priority 150
    virtual_ipaddress {
        198.51.100.1
    }
}
`

func TestSyncGroupTracking(t *testing.T) {
	f := readConf(t, syncConf)
	kept, dropped := scriptTrackers(f, inst(t, f, "VI_a"))
	if len(dropped) != 1 || dropped[0].Script != "chk" {
		t.Errorf("dropped %+v: a sync group member's weighted script is dropped", dropped)
	}
	if len(kept) != 1 || kept[0].Script != "gate" || kept[0].Via != "G" {
		t.Errorf("kept %+v: the group's own script applies to its members", kept)
	}
	if p := predictInstance(f, inst(t, f, "VI_a"), func(s string) bool { return s == "chk" }); p.Priority != 150 || p.Fault {
		t.Errorf("VI_a with chk failing = %+v: its weight does not count", p)
	}
	all := predictDirector(f, func(s string) bool { return s == "gate" })
	if !all["VI_a"].Fault || !all["VI_b"].Fault {
		t.Errorf("gate failing: %+v: the group's script faults every member", all)
	}
	withWeights := readConf(t, strings.Replace(syncConf, "    track_script {\n        gate", "    sync_group_tracking_weight\n    track_script {\n        gate", 1))
	if p := predictInstance(withWeights, inst(t, withWeights, "VI_a"), func(s string) bool { return s == "chk" }); p.Priority != 90 {
		t.Errorf("with sync_group_tracking_weight, chk failing = %+v, want 90", p)
	}
}

func TestPreemption(t *testing.T) {
	base := `vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 1
    %s
    virtual_ipaddress {
        192.0.2.10
    }
}
`
	for _, c := range []struct {
		lines string
		never bool
		delay time.Duration
	}{
		{"priority 100", false, 0},
		{"state BACKUP\n    priority 100\n    nopreempt", true, 0},
		{"state MASTER\n    priority 100\n    nopreempt", false, 0}, // cleared with state MASTER
		{"priority 255\n    nopreempt", false, 0},                   // cleared for the owner
		{"priority 100\n    preempt_delay 4", false, 4 * time.Second},
		{"state MASTER\n    priority 100\n    preempt_delay 4", false, 0},
		{"priority 100\n    nopreempt\n    preempt_delay 4", true, 0},
	} {
		f := readConf(t, strings.Replace(base, "%s", c.lines, 1))
		p := preemptionOf(f, inst(t, f, "VI_1"))
		if p.Never != c.never || p.Delay != c.delay {
			t.Errorf("%q: %+v, want never %v delay %s", c.lines, p, c.never, c.delay)
		}
	}
}

func TestNextMaster(t *testing.T) {
	v2 := vrrpTiming{advert: time.Second, version: 2, adverts: 3}
	sides := func(a, b side) []side {
		a.Node, b.Node, a.Timing, b.Timing = "lb1", "lb2", v2, v2
		return []side{a, b}
	}
	// The master's priority drops below the backup's: the backup preempts
	// within its Master_Down_Interval.
	mv := nextMaster("lb1", sides(side{Priority: 90}, side{Priority: 100}))
	if !mv.Moves || mv.To != "lb2" || mv.Window.Max != 3*time.Second+156*time.Second/256 {
		t.Errorf("priority drop: %+v", mv)
	}
	// Equal priorities change nothing.
	if mv := nextMaster("lb1", sides(side{Priority: 100}, side{Priority: 100})); mv.Moves || mv.To != "lb1" {
		t.Errorf("tie: %+v", mv)
	}
	// nopreempt keeps a higher backup backup.
	if mv := nextMaster("lb2", sides(side{Priority: 150, Preempt: preemption{Never: true}}, side{Priority: 100})); mv.Moves {
		t.Errorf("nopreempt: %+v", mv)
	}
	// A master in FAULT sends priority 0: the backup takes over after its skew.
	mv = nextMaster("lb1", sides(side{Priority: 150, Fault: true}, side{Priority: 100}))
	if !mv.Moves || mv.To != "lb2" || mv.Window.Max != 156*time.Second/256 {
		t.Errorf("fault: %+v", mv)
	}
	// preempt_delay holds a higher backup that much longer.
	mv = nextMaster("lb2", sides(side{Priority: 150, Preempt: preemption{Delay: 4 * time.Second}}, side{Priority: 100}))
	md := 3*time.Second + 106*time.Second/256
	if !mv.Moves || mv.Window.Min != 4*time.Second+md-2*time.Second || mv.Window.Max != 4*time.Second+time.Second+md {
		t.Errorf("preempt_delay: %+v", mv)
	}
	// Nobody left.
	if mv := nextMaster("lb1", []side{{Node: "lb1", Priority: 100, Fault: true, Timing: v2}}); mv.Moves || mv.To != "" {
		t.Errorf("alone in FAULT: %+v", mv)
	}
}

func TestScriptWindows(t *testing.T) {
	f := readConf(t, `vrrp_script chk {
    script "/bin/true"
    interval 2
    fall 3
}
`)
	tm := scriptTimingOf(f.Scripts[0])
	if w := tm.failWindow(); w.Min != 4*time.Second || w.Max != 6*time.Second || !strings.Contains(w.Formula, "rise 1 (default)") {
		t.Errorf("fail window %+v", w)
	}
	if w := tm.recoverWindow(); w.Min != 0 || w.Max != 2*time.Second {
		t.Errorf("recover window %+v", w)
	}
	u := unionWindow([]Window{{Min: time.Second, Max: 3 * time.Second, Formula: "a"}, {Min: 2 * time.Second, Max: 4 * time.Second, Formula: "b"}})
	if u.Min != time.Second || u.Max != 4*time.Second || !strings.Contains(u.Formula, "widest") {
		t.Errorf("union %+v", u)
	}
	if w := widenLate(Window{Min: 100 * time.Millisecond, Max: time.Second}, 300*time.Millisecond); w.Min != 0 || w.Max != 1600*time.Millisecond {
		t.Errorf("widened %+v", w)
	}
	// An election ends as a takeover does: keepalived's timer, then the
	// watcher's, each as late as the probe measured.
	if w := takerLate(Window{Max: 3414 * time.Millisecond, Formula: "f"}, 22*time.Millisecond); w.Max != 3458*time.Millisecond || w.Formula != "f + 2 timers × 22ms lateness" {
		t.Errorf("taker widened %+v", w)
	}
	for threshold, want := range map[int]int{3: 1, 1: 1, 10: 8} {
		if got := syncRequests(threshold); got != want {
			t.Errorf("syncRequests(%d) = %d, want %d", threshold, got, want)
		}
	}
}
