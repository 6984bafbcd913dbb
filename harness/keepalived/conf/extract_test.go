package conf

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// fixtures are the project's keepalived configurations (the byo specs of
// the IPVS suite hold them, and the reader, to keepalived itself).
var fixtures = filepath.Join("..", "..", "..", "fixtures", "keepalived")

func readFixture(t *testing.T, name, id string) *File {
	t.Helper()
	f, err := ReadFS(os.DirFS(fixtures), name, Options{ConfigID: id})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Unknown) > 0 || len(f.Problems) > 0 {
		t.Errorf("%s: unknown %v, problems %v", name, f.Unknown, f.Problems)
	}
	return f
}

// at says where a setting must come from.
func at[T comparable](t *testing.T, what string, s Setting[T], want T, line int) {
	t.Helper()
	if s.Value != want || !s.Set || s.Pos.Line != line {
		t.Errorf("%s = %v set=%v at %s, want %v set at line %d", what, s.Value, s.Set, s.Pos, want, line)
	}
}

// defaulted says a setting was left unset and filled by Defaults.
func defaulted[T comparable](t *testing.T, what string, s Setting[T], want T, from string) {
	t.Helper()
	if s.Set || s.Value != want || !strings.Contains(s.Default, from) {
		t.Errorf("%s = %v set=%v default %q, want %v from %q", what, s.Value, s.Set, s.Default, want, from)
	}
}

func TestNATFixture(t *testing.T) {
	f := readFixture(t, "nat/lb1.conf", "lb1")
	Defaults(f, "2.2.7")
	g := f.Global
	at(t, "router_id", g.RouterID, "lb1", 6)
	at(t, "enable_script_security", g.ScriptSecurity, true, 7)
	at(t, "script_user", g.ScriptUser, "root", 8)
	sd := g.SyncDaemon
	if sd == nil || sd.Interface != "eth1" || sd.Instance != "VI_back" || sd.Pos.Line != 9 {
		t.Fatalf("sync daemon %+v", sd)
	}
	at(t, "syncid", sd.ID, 51, 9)

	if len(f.SyncGroups) != 1 || !slices.Equal(f.SyncGroups[0].Members, []string{"VI_front", "VI_back"}) {
		t.Fatalf("sync groups %+v", f.SyncGroups)
	}
	n := f.SyncGroups[0].Notify
	if n.Master == nil || !slices.Equal(n.Master.Args, []string{"/etc/keepalived/notify.sh", "master"}) || n.Master.Pos.Line != 17 {
		t.Errorf("notify_master %+v", n.Master)
	}

	if len(f.Instances) != 2 {
		t.Fatalf("instances %+v", f.Instances)
	}
	v := f.Instances[0]
	if v.Name != "VI_front" || v.Pos.Line != 22 {
		t.Errorf("instance %s at %s", v.Name, v.Pos)
	}
	at(t, "state", v.State, "BACKUP", 23)
	at(t, "interface", v.Interface, "eth0", 24)
	at(t, "vrid", v.VRID, 50, 25)
	at(t, "priority", v.Priority, 150, 26)
	at(t, "advert_int", v.AdvertInt, time.Second, 27)
	at(t, "auth_type", v.Auth.Type, "PASS", 29)
	defaulted(t, "version", v.Version, 2, "vrrp_version")
	defaulted(t, "nopreempt", v.NoPreempt, false, "2.2.7")
	defaulted(t, "garp_master_delay", v.GARPMasterDelay, 5*time.Second, "2.2.7")
	if len(v.VIPs) != 1 || v.VIPs[0].Prefix != netip.MustParsePrefix("203.0.113.10/24") || v.VIPs[0].Dev != "eth0" || v.VIPs[0].Pos.Line != 33 {
		t.Errorf("VIPs %+v", v.VIPs)
	}

	if len(f.VirtualServers) != 1 {
		t.Fatalf("virtual servers %+v", f.VirtualServers)
	}
	vs := f.VirtualServers[0]
	if vs.Addr != netip.MustParseAddrPort("203.0.113.10:80") || vs.Pos.Line != 52 {
		t.Errorf("virtual server %s at %s", vs.Addr, vs.Pos)
	}
	at(t, "delay_loop", vs.DelayLoop, 6*time.Second, 53)
	at(t, "lb_algo", vs.Scheduler, "wlc", 54)
	at(t, "lb_kind", vs.Method, "NAT", 55)
	at(t, "persistence_timeout", vs.Persistence, 300*time.Second, 56)
	at(t, "protocol", vs.Protocol, "TCP", 57)
	at(t, "quorum", vs.Quorum, 2, 58)
	at(t, "hysteresis", vs.Hysteresis, 1, 59)
	defaulted(t, "connect_timeout", vs.ConnectTimeout, 5*time.Second, "2.2.7")
	if s := vs.SorryServer; s == nil || s.Addr != netip.MustParseAddrPort("198.51.100.99:8080") || s.Pos.Line != 60 {
		t.Errorf("sorry server %+v", s)
	}
	if len(vs.Reals) != 3 {
		t.Fatalf("reals %+v", vs.Reals)
	}
	rs := vs.Reals[0]
	if rs.Addr != netip.MustParseAddrPort("198.51.100.11:8080") || rs.Pos.Line != 62 {
		t.Errorf("real server %s at %s", rs.Addr, rs.Pos)
	}
	at(t, "weight", rs.Weight, 3, 63)
	defaulted(t, "real server method", rs.Method, "NAT", "lb_kind")
	defaulted(t, "real server inhibit", rs.Inhibit, false, "inhibit_on_failure")
	if len(rs.Checkers) != 1 {
		t.Fatalf("checkers %+v", rs.Checkers)
	}
	ch := rs.Checkers[0]
	if ch.Kind != "HTTP_GET" || len(ch.URLs) != 1 {
		t.Fatalf("checker %+v", ch)
	}
	at(t, "path", ch.URLs[0].Path, "/healthz", 66)
	if !slices.Equal(ch.URLs[0].StatusCodes, []StatusRange{{200, 200}}) {
		t.Errorf("status codes %v", ch.URLs[0].StatusCodes)
	}
	at(t, "connect_timeout", ch.ConnectTimeout, 3*time.Second, 69)
	at(t, "retry", ch.Retry, 2, 70)
	at(t, "delay_before_retry", ch.DelayBeforeRetry, 2*time.Second, 71)
	defaulted(t, "checker delay_loop", ch.DelayLoop, 6*time.Second, "delay_loop")
	defaulted(t, "warmup", ch.Warmup, 6*time.Second, "delay_loop")
	tcp := vs.Reals[2].Checkers[0]
	defaulted(t, "TCP_CHECK retry", tcp.Retry, 1, "TCP_CHECK")
	defaulted(t, "TCP_CHECK delay_before_retry", tcp.DelayBeforeRetry, time.Second, "TCP_CHECK")
	defaulted(t, "connect_port", tcp.ConnectPort, 8080, "real server")

	var cmds []string
	for _, c := range f.Commands {
		cmds = append(cmds, fmt.Sprintf("%d %s %q", c.Line.Pos.Line, c.Keyword, c.Raw))
	}
	want := []string{
		`17 notify_master "    notify_master \"/etc/keepalived/notify.sh master\""`,
		`18 notify_backup "    notify_backup \"/etc/keepalived/notify.sh backup\""`,
		`19 notify_fault "    notify_fault  \"/etc/keepalived/notify.sh fault\""`,
	}
	if !slices.Equal(cmds, want) {
		t.Errorf("commands:\n got %q\nwant %q", cmds, want)
	}
}

func TestFixtures(t *testing.T) {
	t.Run("DR with a firewall-mark group", func(t *testing.T) {
		f := readFixture(t, "dr-fwmark.conf", "dr1")
		Defaults(f, "2.2.7")
		at(t, "nopreempt", f.Instances[0].NoPreempt, true, 15)
		g := f.Groups[0]
		if g.Name != "WEB" || len(g.Entries) != 1 || g.Entries[0].FWMark == nil || *g.Entries[0].FWMark != 1 {
			t.Errorf("group %+v", g)
		}
		vs := f.VirtualServers[0]
		if vs.Group != "WEB" {
			t.Errorf("virtual server group %q", vs.Group)
		}
		at(t, "lb_kind", vs.Method, "DR", 28)
		at(t, "persistence_granularity", vs.Granularity, "255.255.255.0", 30)
		at(t, "inhibit_on_failure", vs.Inhibit, true, 31)
		defaulted(t, "real server inhibit", vs.Reals[0].Inhibit, true, "inhibit_on_failure")
		ch := vs.Reals[0].Checkers[0]
		at(t, "connect_port", ch.ConnectPort, 80, 40)
		if !slices.Equal(ch.URLs[0].StatusCodes, []StatusRange{{200, 299}, {301, 301}}) {
			t.Errorf("status codes %v", ch.URLs[0].StatusCodes)
		}
	})
	t.Run("TUN", func(t *testing.T) {
		f := readFixture(t, "tun.conf", "x")
		Defaults(f, "2.2.7")
		v := f.Instances[0]
		at(t, "advert_int", v.AdvertInt, 2*time.Second, 12)
		at(t, "preempt_delay", v.PreemptDelay, 30*time.Second, 13)
		if len(v.VirtualRoutes) != 1 || strings.Join(v.VirtualRoutes[0].Words, " ") != "198.18.0.0/15 via 203.0.113.1 dev eth0" {
			t.Errorf("virtual routes %+v", v.VirtualRoutes)
		}
		if len(f.VirtualServers) != 2 || f.VirtualServers[0].Protocol.Value != "UDP" || f.VirtualServers[1].Protocol.Value != "TCP" {
			t.Fatalf("virtual servers %+v", f.VirtualServers)
		}
		ch := f.VirtualServers[0].Reals[0].Checkers[0]
		at(t, "DNS type", ch.DNSType, "A", 31)
		defaulted(t, "DNS_CHECK retry", ch.Retry, 3, "DNS_CHECK")
		defaulted(t, "DNS_CHECK delay_before_retry", ch.DelayBeforeRetry, 15*time.Second, "delay_loop")
		defaulted(t, "real server method", f.VirtualServers[0].Reals[0].Method, "TUN", "lb_kind")
	})
	t.Run("IPv6 DR", func(t *testing.T) {
		f := readFixture(t, "ipv6-dr.conf", "x")
		Defaults(f, "2.2.7")
		v := f.Instances[0]
		defaulted(t, "version", v.Version, 3, "IPv6")
		at(t, "advert_int", v.AdvertInt, 500*time.Millisecond, 12)
		vs := f.VirtualServers[0]
		if vs.Addr != netip.MustParseAddrPort("[2001:db8:1::10]:443") || !slices.Equal(vs.SchedFlags, []string{"sh-port"}) {
			t.Errorf("virtual server %s flags %v", vs.Addr, vs.SchedFlags)
		}
		at(t, "family", vs.Family, "inet6", 18)
		if vs.Reals[1].Checkers[0].Kind != "SSL_GET" {
			t.Errorf("checker %+v", vs.Reals[1].Checkers[0])
		}
	})
	t.Run("one file for both directors", func(t *testing.T) {
		for id, prio := range map[string]int{"lb1": 150, "lb2": 100} {
			f := readFixture(t, "both.conf", id)
			at(t, "router_id "+id, f.Global.RouterID, id, map[string]int{"lb1": 15, "lb2": 16}[id])
			at(t, "priority "+id, f.Instances[0].Priority, prio, map[string]int{"lb1": 23, "lb2": 24}[id])
			v := f.Instances[0].VIPs[0]
			if v.Prefix != netip.MustParsePrefix("203.0.113.40/24") || v.Pos.Line != 27 {
				t.Errorf("VIP %+v", v)
			}
			vs := f.VirtualServers[0]
			if vs.Addr != netip.MustParseAddrPort("203.0.113.40:80") || len(vs.Reals) != 4 {
				t.Fatalf("virtual server %s reals %d", vs.Addr, len(vs.Reals))
			}
			for i, rs := range vs.Reals {
				want := netip.MustParseAddrPort(fmt.Sprintf("198.51.100.%d:8080", 21+i))
				// Every real server comes from the ~SEQ line.
				if rs.Addr != want || rs.Pos.Line != 37 || rs.Checkers[0].ConnectTimeout.Value != 2*time.Second {
					t.Errorf("real server %d: %s at %s", i, rs.Addr, rs.Pos)
				}
			}
		}
	})
	t.Run("unicast pair with a vrrp_script", func(t *testing.T) {
		f := readFixture(t, "unicast/lb2.conf", "x")
		Defaults(f, "2.2.7")
		s := f.Scripts[0]
		if s.Name != "chk_haproxy" || !slices.Equal(s.Command.Args, []string{"/usr/bin/pgrep", "-x", "haproxy"}) {
			t.Errorf("script %+v", s)
		}
		at(t, "interval", s.Interval, 2*time.Second, 12)
		at(t, "timeout", s.Timeout, time.Second, 13)
		at(t, "fall", s.Fall, 2, 14)
		at(t, "rise", s.Rise, 2, 15)
		at(t, "weight", s.Weight, -60, 16)
		v := f.Instances[0]
		at(t, "unicast_src_ip", v.UnicastSrcIP, netip.MustParseAddr("192.0.2.3"), 25)
		if len(v.UnicastPeers) != 1 || v.UnicastPeers[0].Addr != netip.MustParseAddr("192.0.2.2") || v.UnicastPeers[0].MaxTTL != 255 {
			t.Errorf("peers %+v", v.UnicastPeers)
		}
		if len(v.TrackScripts) != 1 || v.TrackScripts[0].Weight.Value != -60 || !strings.Contains(v.TrackScripts[0].Weight.Default, "vrrp_script") {
			t.Errorf("track scripts %+v", v.TrackScripts)
		}
		if v.Notify.Any == nil || v.Notify.Any.Args[0] != "/etc/keepalived/notify.sh" {
			t.Errorf("notify %+v", v.Notify)
		}
	})
}

// Cases of the handlers' own rules, each as keepalived's source has it.
func TestExtractRules(t *testing.T) {
	read := func(t *testing.T, in string) *File {
		t.Helper()
		return readFiles(t, map[string]string{"main.conf": in}, lb1)
	}
	t.Run("notify scripts: the first wins, an unquoted argument is the user", func(t *testing.T) {
		f := read(t, "vrrp_instance V {\n notify_master /a.sh arg\n notify_master /b.sh\n}\n")
		m := f.Instances[0].Notify.Master
		if m == nil || !slices.Equal(m.Args, []string{"/a.sh"}) || m.User != "arg" {
			t.Errorf("notify_master %+v", m)
		}
		if !hasProblem(f, 3, "already specified") || len(f.Commands) != 2 {
			t.Errorf("problems %v commands %v", f.Problems, f.Commands)
		}
	})
	t.Run("vrrp_script: words after an unquoted script are dropped", func(t *testing.T) {
		f := read(t, "vrrp_script s {\n script /bin/kill -0 1\n}\n")
		if c := f.Scripts[0].Command; !slices.Equal(c.Args, []string{"/bin/kill"}) || !hasProblem(f, 2, "quote the whole command") {
			t.Errorf("script %+v problems %v", c, f.Problems)
		}
	})
	t.Run("a track_script needs its vrrp_script before it", func(t *testing.T) {
		f := read(t, "vrrp_instance V {\n track_script {\n  s weight 10\n }\n}\nvrrp_script s {\n script /x\n}\n")
		if len(f.Instances[0].TrackScripts) != 0 || !hasProblem(f, 3, "not found") {
			t.Errorf("track scripts %+v problems %v", f.Instances[0].TrackScripts, f.Problems)
		}
	})
	t.Run("track weights", func(t *testing.T) {
		f := read(t, "vrrp_script s {\n script /x\n weight 5 reverse\n}\nvrrp_instance V {\n track_interface {\n  eth1 weight -254\n  eth2\n }\n track_script {\n  s\n }\n}\n")
		v := f.Instances[0]
		if v.TrackInterfaces[0].Weight.Value != -253 || v.TrackInterfaces[1].Weight.Set {
			t.Errorf("track interfaces %+v", v.TrackInterfaces)
		}
		if v.TrackScripts[0].Weight.Value != 5 || !v.TrackScripts[0].Reverse {
			t.Errorf("track scripts %+v", v.TrackScripts)
		}
	})
	t.Run("numbers", func(t *testing.T) {
		f := read(t, "vrrp_instance V {\n priority 300\n virtual_router_id 0x10\n advert_int 1.5\n}\nvirtual_server 192.0.2.1 80x {\n delay_loop 3s\n}\n")
		v := f.Instances[0]
		if v.Priority.Set || !hasProblem(f, 2, "outside range") {
			t.Errorf("priority %+v", v.Priority)
		}
		if v.VRID.Set || !hasProblem(f, 3, "invalid number") {
			t.Errorf("vrid %+v", v.VRID)
		}
		at(t, "advert_int", v.AdvertInt, 1500*time.Millisecond, 4)
		vs := f.VirtualServers[0]
		// A running keepalived takes "80x" as 80 and "3s" as 3 µs.
		if vs.Addr.Port() != 80 {
			t.Errorf("port %d", vs.Addr.Port())
		}
		at(t, "delay_loop", vs.DelayLoop, 3*time.Microsecond, 7)
	})
	t.Run("state MASTER sticks, and makes the priority 255", func(t *testing.T) {
		f := read(t, "vrrp_instance V {\n state MASTER\n state BACKUP\n}\n")
		Defaults(f, "2.2.7")
		v := f.Instances[0]
		at(t, "state", v.State, "MASTER", 2)
		defaulted(t, "priority", v.Priority, 255, "MASTER")
	})
	t.Run("a virtual server group's ranges", func(t *testing.T) {
		f := read(t, "virtual_server_group G {\n 192.0.2.3-10 80\n 192.0.2.250-192.0.3.10 80\n 192.0.2.8/29 80\n 2001:db8::2-a 80\n fwmark 7 inet6\n 192.0.2.9/29 80\n}\n")
		var got []string
		for _, e := range f.Groups[0].Entries {
			if e.FWMark != nil {
				got = append(got, fmt.Sprintf("fwmark %d %s", *e.FWMark, e.Family))
				continue
			}
			got = append(got, fmt.Sprintf("%s-%s:%d", e.First, e.Last, e.Port))
		}
		want := []string{"192.0.2.3-192.0.2.10:80", "192.0.2.250-192.0.3.10:80", "192.0.2.8-192.0.2.15:80", "2001:db8::2-2001:db8::a:80", "fwmark 7 inet6"}
		if !slices.Equal(got, want) || !hasProblem(f, 7, "mask bits") {
			t.Errorf("entries %q problems %v", got, f.Problems)
		}
	})
	t.Run("checkers keepalived drops", func(t *testing.T) {
		f := read(t, "virtual_server 192.0.2.1 80 {\n real_server 192.0.2.2 80 {\n  HTTP_GET {\n  }\n  MISC_CHECK {\n  }\n }\n}\n")
		for _, ch := range f.VirtualServers[0].Reals[0].Checkers {
			if !ch.Dropped {
				t.Errorf("%s not dropped", ch.Kind)
			}
		}
	})
	t.Run("SMTP_CHECK host blocks are checkers of their own", func(t *testing.T) {
		f := read(t, "virtual_server 192.0.2.1 25 {\n real_server 192.0.2.2 25 {\n  SMTP_CHECK {\n   retry 2\n   host {\n    connect_ip 192.0.2.20\n   }\n   host {\n    connect_port 587\n    connect_timeout 4\n   }\n  }\n }\n}\n")
		Defaults(f, "2.2.7")
		chs := f.VirtualServers[0].Reals[0].Checkers
		if len(chs) != 2 {
			t.Fatalf("checkers %+v", chs)
		}
		at(t, "host 1 connect_ip", chs[0].ConnectIP, netip.MustParseAddr("192.0.2.20"), 6)
		if chs[0].ConnectTimeout.Value != 0 || chs[0].Retry.Value != 2 {
			t.Errorf("host 1: timeout %s retry %d", chs[0].ConnectTimeout.Value, chs[0].Retry.Value)
		}
		at(t, "host 2 connect_port", chs[1].ConnectPort, 587, 9)
		at(t, "host 2 connect_timeout", chs[1].ConnectTimeout, 4*time.Second, 10)
		defaulted(t, "host 2 connect_ip", chs[1].ConnectIP, netip.MustParseAddr("192.0.2.2"), "real server")
	})
	t.Run("a sync group of no instance is removed", func(t *testing.T) {
		f := read(t, "vrrp_sync_group G {\n group {\n  nope\n }\n}\n")
		if len(f.SyncGroups) != 0 || !hasProblem(f, 1, "removing") {
			t.Errorf("sync groups %+v", f.SyncGroups)
		}
	})
	t.Run("a missing parameter stops keepalived's process", func(t *testing.T) {
		f := read(t, "vrrp_instance V {\n priority\n}\n")
		if !hasProblem(f, 2, "exits") {
			t.Errorf("problems %v", f.Problems)
		}
	})
}

func TestDefaultsFor(t *testing.T) {
	for in, want := range map[string]string{"2.2.7": "", "v2.2.7": "", "2.2.7-1+b2": "", "2.3.1": "nearest", "1.3.5": "nearest", "banana": "not a version"} {
		d, note := DefaultsFor(in)
		if d.Version != "2.2.7" || (want == "") != (note == "") || !strings.Contains(note, want) {
			t.Errorf("%s: row %s note %q", in, d.Version, note)
		}
	}
	if !slices.Contains(KnownVersions(), "2.2.7") {
		t.Error(KnownVersions())
	}
}

func TestScriptNamingOf(t *testing.T) {
	for line, want := range map[string]ScriptNaming{
		"Keepalived v1.3.5": KeepsWrittenName, "Keepalived v1.3.6": TakesTargetName, "Keepalived v1.3.9": TakesTargetName,
		"Keepalived v1.4.0": KeepsWrittenName, "Keepalived v2.0.5": KeepsWrittenName, "Keepalived v2.0.6": KeepsNameIfSameFile,
		"Keepalived v2.2.7 (01/16,2022)": KeepsNameIfSameFile, "Keepalived v2.2.8": KeepsNameIfSameFile, "Keepalived v2.3.0": KeepsWrittenName,
	} {
		got, ok := ScriptNamingOf(VersionOf(line))
		if !ok || got != want {
			t.Errorf("%s: naming %v (ok %v), want %v", line, got, ok, want)
		}
	}
	if _, ok := ScriptNamingOf(VersionOf("keepalived")); ok {
		t.Error("a line without a version was read as one")
	}
}
