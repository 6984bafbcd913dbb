//go:build linux

package check

import (
	"bytes"
	"encoding/xml"
	"net/netip"
	"strings"
	"testing"
)

func TestReadCapture(t *testing.T) {
	got, err := ReadCapture("testdata/capture", []string{"lb1"})
	if err != nil {
		t.Fatal(err)
	}
	m := got["lb1"]
	if len(m.Interfaces) != 3 {
		t.Fatalf("interfaces %+v: want eth0, eth1 and eth2 (lo left out)", m.Interfaces)
	}
	eth1 := m.Interfaces[1]
	if eth1.Name != "eth1" || eth1.Kind != "vlan" || eth1.MTU != 9000 || !eth1.Up ||
		len(eth1.Addrs) != 2 || eth1.Addrs[0] != netip.MustParsePrefix("192.0.2.2/24") {
		t.Errorf("eth1 = %+v", eth1)
	}
	if len(m.Interfaces[0].Addrs) != 1 {
		t.Errorf("eth0's link-local address was kept: %+v", m.Interfaces[0].Addrs)
	}
	if m.Interfaces[2].Up {
		t.Errorf("eth2 is down in the capture")
	}
	if it, p, ok := m.Connected(netip.MustParseAddr("192.0.2.11")); !ok || it.Name != "eth1" || p.Bits() != 24 {
		t.Errorf("192.0.2.11 connected = %v %v %v, want eth1", it.Name, p, ok)
	}
	if _, _, ok := m.Connected(netip.MustParseAddr("203.0.113.5")); ok {
		t.Error("203.0.113.5 is not on a captured subnet")
	}
	for addr, via := range map[string]string{"203.0.113.5": "192.0.2.254", "8.8.8.8": "198.51.100.1", "192.0.2.11": "invalid IP"} {
		r, ok := m.RouteTo(netip.MustParseAddr(addr))
		if !ok || r.Via.String() != via {
			t.Errorf("route to %s = %+v %v, want via %s", addr, r, ok, via)
		}
	}
	if m.Sysctls["net.ipv4.vs.expire_nodest_conn"] != "1" || m.Kernel != "6.1.0-28-amd64" {
		t.Errorf("sysctls %v, kernel %q", m.Sysctls, m.Kernel)
	}
}

func TestReadCaptureMissing(t *testing.T) {
	_, err := ReadCapture("testdata/capture", []string{"lb1", "lb2"})
	if err == nil || !strings.Contains(err.Error(), "lb2") || !strings.Contains(err.Error(), "capture.sh") {
		t.Fatalf("a missing director: %v", err)
	}
}

func TestParseServe(t *testing.T) {
	s, err := parseServe("serve.yaml", []byte(`
- server: 192.0.2.11:80
  refuses: true
- server: ":80"
  paths:
    /healthz: {status: 200, body: ok}
  other: 503
- server: "*"
`))
	if err != nil {
		t.Fatal(err)
	}
	e, ok := s.For(netip.MustParseAddr("192.0.2.11"), 80)
	if !ok || !e.Refuses || e.Pos().Line != 2 {
		t.Errorf("192.0.2.11:80 = %+v", e)
	}
	e, _ = s.For(netip.MustParseAddr("192.0.2.12"), 80)
	if a := e.Answer("/healthz"); a.Status != 200 || a.Body != "ok" {
		t.Errorf("/healthz = %+v", a)
	}
	if a := e.Answer("/other"); a.Status != 503 {
		t.Errorf("/other = %+v, want the entry's other status", a)
	}
	e, _ = s.For(netip.MustParseAddr("192.0.2.12"), 8080)
	if a := e.Answer("/"); a.Status != 404 {
		t.Errorf("a path no entry names = %+v, want 404", a)
	}
}

func TestParseServeRefuses(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{"", "empty"},
		{"server: 1", "list"},
		{"- server: nowhere", "address:port"},
		{"- server: ':0'", "address:port"},
		{"- {server: ':80', paths: {healthz: {status: 200}}}", "start it with /"},
		{"- {server: ':80', paths: {/h: {status: 99}}}", "100 to 599"},
		{"- {server: ':80', refuses: true, other: 404}", "refuses"},
		{"- {server: ':80', colour: blue}", "colour"},
		{"- {paths: {/h: {status: 200}}}", "no server"},
	} {
		if _, err := parseServe("s.yaml", []byte(tc.doc)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error saying %q", tc.doc, err, tc.want)
		}
	}
}

func TestReportVerdictAndJUnit(t *testing.T) {
	r := &Report{Results: []Result{
		{ID: "a", Group: "reach", Status: Pass},
		{ID: "b", Group: "reach", Status: Assumed, RestsOn: []string{"A1"}},
		{ID: "c", Group: "health", Status: NotChecked, Reason: "SMTP_CHECK is not emulated"},
	}}
	if v := r.Verdict(); v != Pass {
		t.Errorf("verdict %s, want pass: assumed and not checked are listed, not failed", v)
	}
	r.Results = append(r.Results, Result{ID: "d", Group: "election", Status: Inconclusive})
	if v := r.Verdict(); v != Inconclusive {
		t.Errorf("verdict %s, want inconclusive", v)
	}
	r.Results = append(r.Results, Result{ID: "e", Group: "election", Status: Fail, Reason: "two masters"})
	if v := r.Verdict(); v != Fail {
		t.Errorf("verdict %s, want fail", v)
	}
	if v := (&Report{}).Verdict(); v != Inconclusive {
		t.Errorf("a run with no result: %s, want inconclusive", v)
	}
	var buf bytes.Buffer
	if err := r.WriteJUnit(&buf); err != nil {
		t.Fatal(err)
	}
	var doc junitSuites
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	s := doc.Suites[0]
	if s.Tests != 5 || s.Failures != 2 || s.Skipped != 2 {
		t.Errorf("suite counts %d/%d/%d, want 5 tests, 2 failures, 2 skipped", s.Tests, s.Failures, s.Skipped)
	}
	if s.Cases[3].Failure == nil || s.Cases[3].Failure.Type != JUnitInconclusive {
		t.Errorf("inconclusive case = %+v", s.Cases[3])
	}
	buf.Reset()
	if err := r.WriteText(&buf); err != nil || !strings.Contains(buf.String(), "verdict: fail") {
		t.Errorf("text report (%v):\n%s", err, buf.String())
	}
}
