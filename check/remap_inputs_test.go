//go:build linux

package check

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The report shows the operator's addresses; the mapping beside.
func TestReportShowsOriginalAddresses(t *testing.T) {
	m := planText(t, "real_server 10.1.2.3 80\n")
	lab := m.Addr(netip.MustParseAddr("10.1.2.3")).String()
	r := &Report{Remap: m, Results: []Result{{ID: "reach/" + lab + ":80", Group: GroupReach, Title: lab + " answers",
		Status: Fail, Reason: "no answer from " + lab}},
		Assumptions: []Assumption{{ID: "A1", Fact: "the application on " + lab + " answers"}}}
	var text, js, junit bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteJUnit(&junit); err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"text": text.String(), "json": js.String(), "junit": junit.String()} {
		if !strings.Contains(out, "reach/10.1.2.3:80") || !strings.Contains(out, "no answer from 10.1.2.3") {
			t.Errorf("%s shows the lab's addresses:\n%s", name, out)
		}
	}
	if !strings.Contains(text.String(), "10.1.2.0/24") || !strings.Contains(text.String(), "-> 192.0.2.0/24") {
		t.Errorf("the text report does not list the mapping:\n%s", text.String())
	}
	var doc struct {
		Remap []RemapPair `json:"remap"`
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil || len(doc.Remap) != 1 || doc.Remap[0].To.String() != "192.0.2.0/24" {
		t.Errorf("JSON mapping %+v (%v)", doc.Remap, err)
	}
	if r.Results[0].ID != "reach/"+lab+":80" {
		t.Error("writing the report changed it")
	}
}

// Load with --remap moves the files keepalived reads, the capture and the
// serve file onto one mapping, line for line.
func TestLoadRemap(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"inc/vs.conf": "virtual_server 192.168.200.100 80 {\n    real_server 192.168.201.11 80 {\n        TCP_CHECK {\n        }\n    }\n}\n",
		"lb1.conf":    "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 51\n    virtual_ipaddress {\n        192.168.200.100/24\n    }\n}\ninclude inc/*.conf\n",
		"serve.yaml":  "- server: 192.168.201.11:80\n  paths:\n    /: {status: 200, body: \"at 192.168.201.11\"}\n",
	})
	lb1, serve := filepath.Join(dir, "lb1.conf"), filepath.Join(dir, "serve.yaml")
	capture := filepath.Join(dir, "capture")
	if err := os.CopyFS(filepath.Join(capture, "lb1"), os.DirFS("testdata/capture/lb1")); err != nil {
		t.Fatal(err)
	}
	b, err := Load(Inputs{Keepalived: []string{lb1}, Capture: capture, Serve: serve, Remap: true})
	if err != nil {
		t.Fatal(err)
	}
	if b.Remap == nil {
		t.Fatal("no mapping")
	}
	d := b.Directors[0]
	vs := d.Conf.VirtualServers[0]
	if !inPool(vs.Addr.Addr()) || !inPool(vs.Reals[0].Addr.Addr()) || vs.Reals[0].Addr.Addr().As4()[3] != 11 {
		t.Errorf("virtual server %s, real server %s: want both remapped, host parts kept", vs.Addr, vs.Reals[0].Addr)
	}
	if vs.Pos.File != "inc/vs.conf" || vs.Pos.Line != 1 || vs.Reals[0].Pos.Line != 2 {
		t.Errorf("positions %v %v: want the operator's file and lines", vs.Pos, vs.Reals[0].Pos)
	}
	if vip := d.Conf.Instances[0].VIPs[0].Prefix; vip.Addr() != vs.Addr.Addr() || vip.Bits() != 24 {
		t.Errorf("VIP %s and virtual server %s: one address, one mapping", vip, vs.Addr)
	}
	// The capture was documentation already: it stays.
	if got := d.Machine.Interfaces[1].Addrs[0].String(); got != "192.0.2.2/24" {
		t.Errorf("captured eth1 %s", got)
	}
	e, ok := b.Serve.For(vs.Reals[0].Addr.Addr(), 80)
	if !ok || e.Answer("/").Body != "at 192.168.201.11" {
		t.Errorf("serve entry %+v %v: want it found by the remapped address, its body as written", e, ok)
	}
	data, err := d.readSource("inc/vs.conf")
	if err != nil || strings.Contains(string(data), "192.168") || strings.Count(string(data), "\n") != 6 {
		t.Errorf("the copy's source (%v):\n%s", err, data)
	}
}

// writeFiles writes files (name → text, names relative, folders made)
// into a new temporary folder and returns it.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
