//go:build linux

package harness

import (
	"net/netip"
	"strings"
	"testing"
)

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
