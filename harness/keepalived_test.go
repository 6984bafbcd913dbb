package harness

import (
	"net/netip"
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

func TestKeepalivedConfig(t *testing.T) {
	spec := planHA(t, topology.ModeNAT)
	conf, err := KeepalivedConfig(spec, topology.Director2, HAOptions{Sync: true, Inhibit: true, NoPreempt: true,
		Version: 3, Advert: 100 * time.Millisecond, Persistence: time.Minute, Scheduler: "mh", SchedulerFlags: []string{"mh-port"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"lvs_sync_daemon back VI_front id 51",
		"vrrp_notify_fifo /run/lvslab/paperha/keepalived-director2-vrrp.fifo",
		"group {\n        VI_front\n        VI_back\n    }",
		"state BACKUP\n    interface front\n    virtual_router_id 51\n    priority 100\n    version 3\n    advert_int 0.1\n    nopreempt",
		"virtual_router_id 52",
		"203.0.113.10/32 dev front", "192.0.2.254/32 dev back",
		"lvs_sched mh\n    mh-port\n    lvs_method NAT\n    persistence_timeout 60\n    delay_loop 1\n    inhibit_on_failure",
		"real_server 192.0.2.18 80 {",
		"status_code 200", "connect_timeout 1\n            retry 1\n            delay_before_retry 1\n            warmup 0",
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("config lacks %q:\n%s", want, conf)
		}
	}
	if strings.Contains(conf, "state MASTER") {
		t.Error("a director is configured state MASTER: keepalived would ignore nopreempt")
	}
	dr, err := KeepalivedConfig(planHA(t, topology.ModeDR), topology.Director1, HAOptions{Check: "TCP_CHECK"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"lvs_method DR", "priority 150", "version 2\n    advert_int 1\n", "TCP_CHECK {"} {
		if !strings.Contains(dr, want) {
			t.Errorf("DR config lacks %q", want)
		}
	}
	if strings.Contains(dr, "lvs_sync_daemon") || strings.Contains(dr, "url {") {
		t.Error("DR config has a sync daemon or an HTTP check it was not asked for")
	}
}

func TestKeepalivedConfigErrors(t *testing.T) {
	spec := planHA(t, topology.ModeNAT)
	cases := []struct {
		o    HAOptions
		want string
	}{
		{HAOptions{Advert: 100 * time.Millisecond}, "VRRPv2 takes whole seconds"},
		{HAOptions{Version: 4}, "VRRP version 4"},
		{HAOptions{Priorities: [2]int{255, 100}}, "255 is the address owner's"},
		{HAOptions{Check: "PING"}, `health check "PING"`},
		{HAOptions{Sysctls: map[string]string{"bogus": "1"}}, `"bogus" is not one lvslab sets`},
	}
	for _, c := range cases {
		if _, err := KeepalivedConfig(spec, topology.Director1, c.o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.o, err, c.want)
		}
	}
	if _, err := KeepalivedConfig(planHA(t, topology.ModeDirect), topology.Director1, HAOptions{}); err == nil {
		t.Error("a direct-mode lab has no virtual service, yet got a config")
	}
	single, _ := topology.Plan(topology.Paper(topology.WithMode(topology.ModeNAT)))
	if _, err := KeepalivedConfig(single, "director", HAOptions{}); err == nil || !strings.Contains(err.Error(), "runs a pair") {
		t.Errorf("one director: %v", err)
	}
}

// The VRRP timers of RFC 3768/5798 §6.1 at the lab's settings.
func TestVRRPTimers(t *testing.T) {
	v2 := HAOptions{}
	v3 := HAOptions{Version: 3, Advert: 100 * time.Millisecond}
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

func TestParseEvent(t *testing.T) {
	for line, want := range map[string]HAEvent{
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

func TestSyncDaemonString(t *testing.T) {
	d := SyncDaemon{State: SyncBackup, Interface: "back", SyncID: 51, MaxLen: 1472, Group: netip.MustParseAddr("224.0.0.81"), Port: 8848, TTL: 1}
	// What ipvsadm v1.31 prints for the same daemon.
	if got, want := d.String(), "backup sync daemon (mcast=back, syncid=51, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)"; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	var b strings.Builder
	WriteDaemons(&b, []SyncDaemon{d, {State: SyncMaster, Interface: "back", SyncID: 51}})
	if !strings.HasPrefix(b.String(), "master sync daemon (mcast=back, syncid=51)\nbackup") {
		t.Errorf("master must come first, as in ipvsadm:\n%s", b.String())
	}
}

func TestParseConns(t *testing.T) {
	table := "Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Origin Expires\n" +
		"TCP C6336464 9C40 CB00710A 0050 C000020B 0050 ESTABLISHED SYNC       899\n"
	conns, err := parseConns(table)
	if err != nil {
		t.Fatal(err)
	}
	want := Conn{Protocol: "TCP", Client: netip.MustParseAddrPort("198.51.100.100:40000"), Virtual: netip.MustParseAddrPort("203.0.113.10:80"),
		Dest: netip.MustParseAddrPort("192.0.2.11:80"), State: "ESTABLISHED", Origin: "SYNC", Expires: 899}
	if len(conns) != 1 || conns[0] != want {
		t.Errorf("got %+v, want %+v", conns, want)
	}
	if _, err := parseConns("header\nTCP ZZZZZZZZ 9C40 CB00710A 0050 C000020B 0050 ESTABLISHED LOCAL 1\n"); err == nil {
		t.Error("a bad address was accepted")
	}
}
