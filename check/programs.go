//go:build linux

package check

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/lvslab/lvslab/harness/keepalived/conf"
)

// nameDispatchers are programs that act on the name they were called by,
// and what each does when called by its own name with a script's
// arguments.
var nameDispatchers = map[string]string{
	// Debian's pidof is a link to killall5 (sysvinit-utils).
	"killall5": "takes the first argument for a signal number, prints its usage and exits 1 (with no argument it signals every process)",
	"busybox":  "takes the first argument for the applet to run and finds none",
	"toybox":   "takes the first argument for the applet to run and finds none",
}

// keepalivedPath is the PATH keepalived searches for a bare program name:
// systemd's default for a service, which keepalived's unit keeps.
const keepalivedPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// scriptProgram is a program a director's keepalived runs and judges by.
type scriptProgram struct {
	id, what string
	cmd      *conf.Command
}

// scriptPrograms checks, for every tracked vrrp_script and MISC_CHECK of
// a director's file whose program is reached through a link on this
// machine, that the keepalived in use (the director's own, when a capture
// names it) runs it under a name it answers to. The lab runs stubs in
// their place, so only this reading of the file can see it.
func scriptPrograms(d *Director, labKeepalived string) []Result {
	line, whose := labKeepalived, "the lab's keepalived"
	if d.Machine != nil && d.Machine.Keepalived != "" {
		line, whose = d.Machine.Keepalived, d.Name+"'s keepalived (its capture)"
	}
	version := conf.VersionOf(line)
	naming, ok := conf.ScriptNamingOf(version)
	if !ok {
		return nil
	}
	var out []Result
	for _, p := range programsOf(d.Conf) {
		written := p.cmd.Args[0]
		path, err := findProgram(written)
		if err != nil {
			continue // not on this machine: nothing to read
		}
		real, err := filepath.EvalSymlinks(path)
		if err != nil || real == filepath.Clean(path) {
			continue // no link: it runs under its own name
		}
		runs := calledAs(naming, path, real)
		r := Result{ID: fmt.Sprintf("acceptance/program/%s/%s", p.id, d.Name), Group: GroupAcceptance,
			Title: fmt.Sprintf("%s on %s runs %s under a name it answers to", p.what, d.Name, filepath.Base(written)), Where: []Pos{posOf(p.cmd.Pos)},
			Bound:    fmt.Sprintf("%s %s runs %s", whose, version, namingRule(naming)),
			Measured: fmt.Sprintf("on this machine %s leads to %s; keepalived calls it %s", written, real, runs),
			Status:   Pass}
		if does, dispatches := nameDispatchers[filepath.Base(runs)]; dispatches && filepath.Base(runs) != filepath.Base(written) {
			r.Status = Fail
			r.Reason = fmt.Sprintf("%s acts on the name it is called by, and called %s it %s: %q fails whatever it checks, wherever the director's %s leads to %s as here. "+
				"Call it through a shell, which keeps the name (\"/bin/sh -c '%s'\"), or call a program that does not depend on its name; keepalived 2.3.0 and later keep the name",
				filepath.Base(runs), filepath.Base(runs), does, strings.Join(p.cmd.Args, " "), written, filepath.Base(real), strings.Join(p.cmd.Args, " "))
		}
		out = append(out, r)
	}
	return out
}

// programsOf lists the programs keepalived runs and judges by: the
// vrrp_scripts an instance tracks (keepalived drops the others) and every
// MISC_CHECK. A script beginning with "<" tests a file and runs nothing.
func programsOf(f *conf.File) []scriptProgram {
	var out []scriptProgram
	add := func(p scriptProgram) {
		if p.cmd != nil && len(p.cmd.Args) > 0 && p.cmd.Args[0] != "" && !strings.HasPrefix(p.cmd.Args[0], "<") {
			out = append(out, p)
		}
	}
	for _, s := range f.Scripts {
		if runsScript(f, s.Name) {
			add(scriptProgram{"vrrp_script-" + s.Name, "vrrp_script " + s.Name, s.Command})
		}
	}
	for _, vs := range f.VirtualServers {
		for _, rs := range vs.Reals {
			for _, c := range rs.Checkers {
				if c.Kind == "MISC_CHECK" {
					add(scriptProgram{fmt.Sprintf("misc-%s-%s:%d", rs.Addr, c.Pos.File, c.Pos.Line), fmt.Sprintf("MISC_CHECK of %s in %s", rs.Addr, serviceKey(vs)), c.Misc})
				}
			}
		}
	}
	return out
}

// runsScript says whether keepalived runs a vrrp_script: an instance or
// a sync group tracks it (keepalived drops the others, vrrp.c
// vrrp_complete_init).
func runsScript(f *conf.File, script string) bool {
	named := func(ts []conf.Track) bool {
		return slices.ContainsFunc(ts, func(t conf.Track) bool { return t.Name == script })
	}
	return slices.ContainsFunc(f.Instances, func(in conf.Instance) bool { return named(in.TrackScripts) }) ||
		slices.ContainsFunc(f.SyncGroups, func(g conf.SyncGroup) bool { return named(g.TrackScripts) })
}

// findProgram is the file keepalived finds for a program: a bare name on
// keepalivedPath, a relative path from /, where keepalived runs.
func findProgram(prog string) (string, error) {
	if strings.Contains(prog, "/") {
		if !filepath.IsAbs(prog) {
			prog = filepath.Join("/", prog)
		}
		return prog, nil
	}
	for _, dir := range filepath.SplitList(keepalivedPath) {
		p := filepath.Join(dir, prog)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", errors.New(prog + " is not on keepalived's PATH here")
}

// calledAs is the path keepalived gives a program as its name (argv[0]),
// for path written and real, where its links lead.
func calledAs(naming conf.ScriptNaming, path, real string) string {
	switch naming {
	case conf.TakesTargetName:
		return real
	case conf.KeepsNameIfSameFile:
		keep := filepath.Join(filepath.Dir(real), filepath.Base(path))
		if a, err := os.Stat(keep); err == nil {
			if b, err := os.Stat(real); err == nil && os.SameFile(a, b) {
				return keep
			}
		}
		return real
	}
	return path
}

func namingRule(n conf.ScriptNaming) string {
	switch n {
	case conf.TakesTargetName:
		return "a linked program under the name its links lead to"
	case conf.KeepsNameIfSameFile:
		return "a linked program under the name its links lead to, unless the target's folder holds the written name as the same file"
	}
	return "a program under the name written"
}
