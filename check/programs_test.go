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
	for written, want := range map[string]string{
		"bin/pidof":  "sbin/killall5", // the target's folder has no pidof
		"bin/a0link": "bin/a0link",    // the target's folder holds the written name, the same file
		"bin/a0":     "bin/a0",
	} {
		got, err := calledAs(filepath.Join(dir, written))
		if err != nil || got != filepath.Join(dir, want) {
			t.Errorf("calledAs(%s) = %q, %v; want %s", written, got, err, want)
		}
	}
	if _, err := calledAs(filepath.Join(dir, "bin/missing")); err == nil {
		t.Error("a missing program resolved")
	}
}

func TestScriptPrograms(t *testing.T) {
	dir := programLayout(t)
	d := &Director{Name: "lb1", Conf: &conf.File{Scripts: []conf.Script{
		{Name: "chk_haproxy", Command: &conf.Command{Args: []string{filepath.Join(dir, "bin/pidof"), "haproxy"}, Pos: conf.Pos{File: "lb1.conf", Line: 4}}},
		{Name: "chk_other", Command: &conf.Command{Args: []string{filepath.Join(dir, "bin/a0link"), "x"}}},
	}}}
	got := scriptPrograms(d, "Keepalived v2.2.7 (01/16,2022)")
	if len(got) != 1 || got[0].Status != Fail || got[0].Where[0].Line != 4 || !strings.Contains(got[0].Measured, "killall5") {
		t.Fatalf("keepalived 2.2.7: %+v, want one failure for chk_haproxy naming killall5", got)
	}
	for _, line := range []string{"Keepalived v2.3.1 (05/22,2024)", "Keepalived v1.3.5", "no version"} {
		if got := scriptPrograms(d, line); len(got) != 0 {
			t.Errorf("%s: %+v, want nothing: that keepalived keeps the written name", line, got)
		}
	}
}
