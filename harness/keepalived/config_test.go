//go:build linux

package keepalived

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lvslab/lvslab/topology"
)

func planHA(t *testing.T, mode topology.Mode) *topology.Spec {
	t.Helper()
	p, err := topology.Plan(topology.PaperHA(topology.WithMode(mode)))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// The files in testdata are what the generator wrote before it became a
// template, for the same inputs: the configuration must not change by a
// byte unless a change means it to.
func TestGenerateConfigGolden(t *testing.T) {
	for _, c := range []struct {
		golden   string
		mode     topology.Mode
		director string
		o        Options
	}{
		{"nat-sync-director2", topology.ModeNAT, topology.Director2, Options{Sync: true, Inhibit: true, NoPreempt: true,
			Version: 3, Advert: 100 * time.Millisecond, Persistence: time.Minute, Scheduler: "mh", SchedulerFlags: []string{"mh-port"}}},
		{"nat-sync-tcp-v3-director1", topology.ModeNAT, topology.Director1, Options{Sync: true, Persistence: 300 * time.Second, Check: "TCP_CHECK",
			Version: 3, Advert: 250 * time.Millisecond, Priorities: [2]int{200, 90}, VRID: 60,
			Health: HealthTiming{DelayLoop: 500 * time.Millisecond, ConnectTimeout: 2 * time.Second, Retry: 3, DelayBeforeRetry: 1500 * time.Millisecond, Warmup: 2500 * time.Millisecond}}},
		{"dr-default-director1", topology.ModeDR, topology.Director1, Options{Check: "TCP_CHECK"}},
		{"tun-flags-director2", topology.ModeTUN, topology.Director2, Options{Scheduler: "sh", SchedulerFlags: []string{"sh-port", "sh-fallback"}, Advert: 2 * time.Second}},
	} {
		want, err := os.ReadFile(filepath.Join("testdata", c.golden+".conf"))
		if err != nil {
			t.Fatal(err)
		}
		got, err := GenerateConfig(planHA(t, c.mode), c.director, c.o)
		if err != nil {
			t.Fatalf("%s: %v", c.golden, err)
		}
		if got != string(want) {
			t.Errorf("%s: the configuration changed:\n%s", c.golden, lineDiff(string(want), got))
		}
	}
}

// lineDiff names the first line where two configurations differ.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := range max(len(w), len(g)) {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			return fmt.Sprintf("line %d: want %q\n          got %q", i+1, a, b)
		}
	}
	return "(same lines)"
}

func TestGenerateConfig(t *testing.T) {
	conf, err := GenerateConfig(planHA(t, topology.ModeNAT), topology.Director2, Options{Sync: true, NoPreempt: true, Version: 3, Advert: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"lvs_sync_daemon back VI_front id 51",
		"vrrp_notify_fifo /run/lvslab/paperha/keepalived-director2-vrrp.fifo",
		"state BACKUP\n    interface front\n    virtual_router_id 51\n    priority 100\n    version 3\n    advert_int 0.1\n    nopreempt",
		"virtual_router_id 52",
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("config lacks %q:\n%s", want, conf)
		}
	}
	if strings.Contains(conf, "state MASTER") {
		t.Error("a director is configured state MASTER: keepalived would ignore nopreempt")
	}
	dr, err := GenerateConfig(planHA(t, topology.ModeDR), topology.Director1, Options{Check: "TCP_CHECK"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(dr, "lvs_sync_daemon") || strings.Contains(dr, "url {") || strings.Contains(dr, "persistence_timeout") {
		t.Error("DR config has a sync daemon, an HTTP check or persistence it was not asked for")
	}
}

func TestGenerateConfigErrors(t *testing.T) {
	spec := planHA(t, topology.ModeNAT)
	cases := []struct {
		o    Options
		want string
	}{
		{Options{Advert: 100 * time.Millisecond}, "VRRPv2 takes whole seconds"},
		{Options{Version: 4}, "VRRP version 4"},
		{Options{Priorities: [2]int{255, 100}}, "255 is the address owner's"},
		{Options{Check: "PING"}, `health check "PING"`},
		{Options{Sysctls: map[string]string{"bogus": "1"}}, `"bogus" is not one lvslab sets`},
		{Options{VRID: 255}, "VRID 255: use 1-254"},
	}
	for _, c := range cases {
		if _, err := GenerateConfig(spec, topology.Director1, c.o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.o, err, c.want)
		}
	}
	if _, err := GenerateConfig(spec, "director3", Options{}); err == nil || !strings.Contains(err.Error(), "has no director director3") {
		t.Errorf("an unknown director: %v", err)
	}
	if _, err := GenerateConfig(planHA(t, topology.ModeDirect), topology.Director1, Options{}); err == nil {
		t.Error("a direct-mode lab has no virtual service, yet got a config")
	}
	single, _ := topology.Plan(topology.Paper(topology.WithMode(topology.ModeNAT)))
	if _, err := GenerateConfig(single, "director", Options{}); err == nil || !strings.Contains(err.Error(), "runs a pair") {
		t.Errorf("one director: %v", err)
	}
}
