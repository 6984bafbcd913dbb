//go:build linux

package check

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/lvslab/lvslab/harness/keepalived/conf"
)

// nameDispatchers are programs that act on the name they were called by:
// run under their own name they do something else. killall5 is pidof when
// called pidof (Debian's /bin/pidof links to it); busybox and toybox run
// the applet they were called as.
var nameDispatchers = map[string]bool{"killall5": true, "busybox": true, "toybox": true}

// scriptPrograms finds the scripts of a director's file that the
// keepalived in use runs under another name than the file gives, where
// that makes another program run: a vrrp_script or MISC_CHECK that fails
// whatever it checks. The lab runs stubs in their place, so only this
// reading of the file on this machine can see it.
func scriptPrograms(d *Director, keepalivedLine string) []Result {
	version := conf.VersionOf(keepalivedLine)
	if renames, ok := conf.RenamesLinkedScripts(version); !ok || !renames {
		return nil
	}
	type script struct {
		what string
		cmd  *conf.Command
	}
	var scripts []script
	for _, s := range d.Conf.Scripts {
		scripts = append(scripts, script{"vrrp_script " + s.Name, s.Command})
	}
	for _, vs := range d.Conf.VirtualServers {
		for _, rs := range vs.Reals {
			for _, c := range rs.Checkers {
				scripts = append(scripts, script{fmt.Sprintf("MISC_CHECK of %s", rs.Addr), c.Misc})
			}
		}
	}
	var out []Result
	for _, s := range scripts {
		if s.cmd == nil || len(s.cmd.Args) == 0 {
			continue
		}
		written := s.cmd.Args[0]
		runs, err := calledAs(written)
		if err != nil || filepath.Base(runs) == filepath.Base(written) || !nameDispatchers[filepath.Base(runs)] {
			continue
		}
		out = append(out, Result{ID: fmt.Sprintf("acceptance/program/%s/%s", strings.ReplaceAll(s.what, " ", "-"), d.Name), Group: GroupAcceptance,
			Title: fmt.Sprintf("%s on %s runs %s", s.what, d.Name, filepath.Base(written)), Where: []Pos{posOf(s.cmd.Pos)},
			Bound:    fmt.Sprintf("keepalived %s runs a linked script under its target's name unless the target's folder holds the written name", version),
			Measured: fmt.Sprintf("%s runs as %s on this machine", written, runs),
			Status:   Fail,
			Reason: fmt.Sprintf("%s acts on the name it is called by, and keepalived calls it %s: %q does not run %s and fails whatever it checks. "+
				"Give a program that does not depend on its name (/usr/bin/pgrep -x NAME for pidof NAME); keepalived 2.3.0 and later keep the name",
				filepath.Base(runs), filepath.Base(runs), strings.Join(s.cmd.Args, " "), filepath.Base(written))})
	}
	return out
}

// calledAs is the path keepalived runs a program under: the written name
// in the folder the link resolves to when that is the same file, else the
// resolved path itself. A bare name is found on PATH first, as keepalived
// finds it.
func calledAs(prog string) (string, error) {
	if !strings.Contains(prog, "/") {
		found, err := exec.LookPath(prog)
		if err != nil {
			return "", err
		}
		prog = found
	}
	real, err := filepath.EvalSymlinks(prog)
	if err != nil {
		return "", err
	}
	keep := filepath.Join(filepath.Dir(real), filepath.Base(prog))
	if a, err := os.Stat(keep); err == nil {
		if b, err := os.Stat(real); err == nil && os.SameFile(a, b) {
			return keep, nil
		}
	}
	return real, nil
}
