//go:build linux

package main

import (
	"strings"
	"testing"
)

// The usage line gives --kernels FILE for every verb: before or after the
// verb, and among the names, it is the same request.
func TestKernelsTakesItsFlagsBeforeOrAfterTheVerb(t *testing.T) {
	t.Setenv("LVSLAB_CACHE", t.TempDir())
	list := writeText(t, t.TempDir(), "mine.yaml", "default: mine\nkernels:\n  - name: mine\n    archive: http://deb.debian.org/debian-security\n"+
		"    suite: bullseye-security\n    package: linux-image-5.10.0-46-amd64\n    version: 5.10.262-1\n"+
		"    sha256: 6d89bdf9a7c4458c64de7221edfb8e7b2c3279012636e4bb9d6bba4e6b7a67eb\n")
	// A name the list lacks: refused once the flags and words are read,
	// before anything is fetched.
	want := `kernel "other" is not in the list: use one of mine`
	for _, args := range [][]string{
		{"kernels", "--kernels", list, "fetch", "other"},
		{"kernels", "fetch", "--kernels", list, "other"},
		{"kernels", "fetch", "other", "--kernels", list},
		{"kernels", "fetch", "--", "other"}, // the shipped list
	} {
		code, out := captured(t, args...)
		w := want
		if args[2] == "--" {
			w = `kernel "other" is not in the list`
		}
		if code != 2 || !strings.Contains(out, w) {
			t.Errorf("lvslab %s: exit %d, %q; want exit 2 and %q", strings.Join(args, " "), code, out, w)
		}
	}
	code, out := captured(t, "kernels", "--kernels", list)
	if code != 0 || !strings.Contains(out, "mine (default)") || !strings.Contains(out, "list: "+list) {
		t.Errorf("kernels --kernels FILE: exit %d, %q", code, out)
	}
	if code, out := captured(t, "kernels", "--kernels", list, "fetch"); code != 2 || !strings.Contains(out, "kernel names or --all") {
		t.Errorf("fetch without a name: exit %d, %q", code, out)
	}
	if code, out := captured(t, "kernels", "lst"); code != 2 || !strings.Contains(out, `unexpected argument "lst"`) {
		t.Errorf("a misspelt verb: exit %d, %q", code, out)
	}
}
