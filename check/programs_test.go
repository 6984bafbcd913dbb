//go:build linux

package check

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lvslab/lvslab/harness/keepalived/conf"
)

// A Debian-like layout: bin/pidof links to sbin/killall5, and bin/a0link
// to bin/a0 in the same folder.
func programLayout(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"bin", "sbin"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"sbin/killall5", "bin/a0"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{"bin/pidof": "../sbin/killall5", "bin/a0link": "a0"} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestCalledAs(t *testing.T) {
	dir := programLayout(t)
	at := func(p string) string { return filepath.Join(dir, p) }
	for _, c := range []struct {
		naming     conf.ScriptNaming
		path, real string
		want       string
	}{
		{conf.KeepsNameIfSameFile, "bin/pidof", "sbin/killall5", "sbin/killall5"}, // the target's folder has no pidof
		{conf.KeepsNameIfSameFile, "bin/a0link", "bin/a0", "bin/a0link"},          // it holds the written name, the same file
		{conf.TakesTargetName, "bin/a0link", "bin/a0", "bin/a0"},
		{conf.KeepsWrittenName, "bin/pidof", "sbin/killall5", "bin/pidof"},
	} {
		if got := calledAs(c.naming, at(c.path), at(c.real)); got != at(c.want) {
			t.Errorf("calledAs(%v, %s) = %s, want %s", c.naming, c.path, got, at(c.want))
		}
	}
}

func TestFindProgram(t *testing.T) {
	if p, err := findProgram("bin/x"); err != nil || p != "/bin/x" {
		t.Errorf("a relative path: %q, %v; want it from /, where keepalived runs", p, err)
	}
	if _, err := findProgram("no-such-program-here"); err == nil {
		t.Error("a bare name that is nowhere on keepalived's PATH was found")
	}
}

func TestScriptPrograms(t *testing.T) {
	dir := programLayout(t)
	track := []conf.Track{{Name: "chk_haproxy"}, {Name: "chk_other"}}
	d := &Director{Name: "lb1", Conf: &conf.File{
		Scripts: []conf.Script{
			{Name: "chk_haproxy", Command: &conf.Command{Args: []string{filepath.Join(dir, "bin/pidof"), "haproxy"}, Pos: conf.Pos{File: "lb1.conf", Line: 4}}},
			{Name: "chk_other", Command: &conf.Command{Args: []string{filepath.Join(dir, "bin/a0link"), "x"}}},
			{Name: "chk_untracked", Command: &conf.Command{Args: []string{filepath.Join(dir, "bin/pidof"), "x"}}},
			{Name: "chk_file", Command: &conf.Command{Args: []string{"</dev/tcp/127.0.0.1/80"}}},
		},
		Instances: []conf.Instance{{Name: "VI_1", TrackScripts: append(track, conf.Track{Name: "chk_file"})}},
	}}
	got := scriptPrograms(d, "Keepalived v2.2.7 (01/16,2022)")
	if len(got) != 2 {
		t.Fatalf("keepalived 2.2.7: %d results, want one per tracked script reached through a link: %+v", len(got), got)
	}
	if got[0].Status != Fail || got[0].Where[0].Line != 4 || !strings.Contains(got[0].Measured, "killall5") || got[1].Status != Pass {
		t.Errorf("keepalived 2.2.7: %+v, want chk_haproxy failing on killall5 and chk_other passing", got)
	}
	if got[0].ID == got[1].ID {
		t.Errorf("two scripts share the ID %s", got[0].ID)
	}
	for _, line := range []string{"Keepalived v2.3.1 (05/22,2024)", "Keepalived v2.0.5"} {
		for _, r := range scriptPrograms(d, line) {
			if r.Status != Pass {
				t.Errorf("%s keeps the written name, yet: %+v", line, r)
			}
		}
	}
	if got := scriptPrograms(d, "no version"); len(got) != 0 {
		t.Errorf("an unreadable version judged: %+v", got)
	}
	d.Machine = &Machine{Keepalived: "Keepalived v2.3.0"}
	for _, r := range scriptPrograms(d, "Keepalived v2.2.7") {
		if r.Status != Pass || !strings.Contains(r.Bound, "capture") {
			t.Errorf("the director's captured keepalived 2.3.0 keeps the name, yet: %+v", r)
		}
	}
}
