//go:build linux

package check

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/lvslab/lvslab/harness/keepalived/conf"
)

// The copies keepalived runs in a lab are the operator's files line for
// line: a line is only ever replaced in place (so keepalived's messages
// name the operator's line numbers) and the lab's own lines go after the
// last one. What changes, and why, is decided here.

// Why a line changes.
const (
	whyMachine = "keeps keepalived inside the lab"
	whyFifo    = "the lab reads keepalived's events from its own FIFO"
	whyNotify  = "a notify script is recorded, not run (--run-notify runs it)"
	whyToggle  = "a tracked script is a stub the check turns good or bad"
	whyMisc    = "a MISC_CHECK script is a stub the check turns good or bad"
	whyProcess = "track_process gets no process events in a network namespace (keepalived issues 1469, 2434): it tracks a process the lab runs"
	whyInclude = "reads the lab's copy of the included file"
)

// machineKeywords tie keepalived to its machine: the lab drops them.
var machineKeywords = map[string]bool{
	"net_namespace": true, "instance": true, "use_pid_dir": true, "enable_dbus": true, "dbus_service_name": true,
	"enable_snmp_vrrp": true, "enable_snmp_keepalived": true, "enable_snmp_checker": true, "enable_snmp_rfc": true,
	"enable_snmp_rfcv2": true, "enable_snmp_rfcv3": true, "snmp_socket": true, "enable_traps": true,
	"reload_file": true, "reload_time_file": true, "tmp_config_directory": true, "config_save_dir": true,
	"data_use_instance": true,
}

var fifoKeywords = map[string]bool{"notify_fifo": true, "vrrp_notify_fifo": true, "lvs_notify_fifo": true}

// notifyKeywords run a program on an event: recorded, not run.
var notifyKeywords = map[string]bool{
	"notify": true, "notify_master": true, "notify_backup": true, "notify_fault": true, "notify_stop": true,
	"notify_deleted": true, "notify_master_rx_lower_pri": true, "notify_up": true, "notify_down": true,
	"quorum_up": true, "quorum_down": true, "startup_script": true, "shutdown_script": true,
	"notify_fifo_script": true, "vrrp_notify_fifo_script": true, "lvs_notify_fifo_script": true,
}

// LabFiles are where a director's copy lives in the lab, and the lab's
// own files keepalived writes or runs.
type LabFiles struct {
	Dir string // the director's folder in the lab's state directory
	// Main is the copy of the operator's main file.
	Main string
	// VRRPFifo and LVSFifo are the FIFOs the lab reads events from.
	VRRPFifo, LVSFifo string
	// Record logs a notify script's call; Toggle exits as the check says.
	Record, Toggle string
	// Notes is the log Record writes; States holds Toggle's exit codes.
	Notes, States string
	// Stubs maps a stub's id to what it replaces, for the checks.
	Stubs []Stub
}

// Stub is a script or process the lab put in place of the operator's.
type Stub struct {
	ID      string // the stub's argument, also its state file's name
	Keyword string
	Name    string // the vrrp_script's, track_process's or checker's name
	Where   Pos
	Was     string
}

// writeCopy writes a director's copy into dir and returns what changed.
func writeCopy(d *Director, dir string, runNotify bool) (*LabFiles, []Change, error) {
	lf := &LabFiles{Dir: dir, VRRPFifo: filepath.Join(dir, "vrrp.fifo"), LVSFifo: filepath.Join(dir, "lvs.fifo"),
		Record: filepath.Join(dir, "record"), Toggle: filepath.Join(dir, "toggle"),
		Notes: filepath.Join(dir, "notify.log"), States: filepath.Join(dir, "states")}
	for _, sub := range []string{"main", "root", "states"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, nil, err
		}
	}
	if err := writeStubs(lf); err != nil {
		return nil, nil, err
	}
	repl, changes := replacements(d.Conf, lf, runNotify)
	for i, name := range d.Conf.Files {
		dst := filepath.Join(dir, "main", filepath.FromSlash(name))
		if path.IsAbs(name) {
			if d.root == "" {
				continue // not read: a Problem of the reader, an error of keepalived -t
			}
			dst = filepath.Join(dir, "root", filepath.FromSlash(name))
		}
		// Read as the reader read it: remapped with --remap.
		data, err := d.readSource(name)
		if err != nil {
			return nil, nil, fmt.Errorf("copy for the lab: %w", err)
		}
		lines := strings.Split(string(data), "\n")
		for n := range lines {
			if s, ok := repl[conf.Pos{File: name, Line: n + 1}]; ok {
				lines[n] = s
			}
		}
		out := strings.Join(lines, "\n")
		if i == 0 {
			lf.Main = dst
			out = strings.TrimRight(out, "\n") + "\n" + labGlobals(d.Conf, lf)
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return nil, nil, err
		}
		if err := os.WriteFile(dst, []byte(out), 0o644); err != nil {
			return nil, nil, err
		}
	}
	if lf.Main == "" {
		return nil, nil, errors.New("the keepalived file was not read")
	}
	for i := range changes {
		changes[i].Where.File = displayName(d, changes[i].Where.File)
	}
	return lf, changes, nil
}

func displayName(d *Director, name string) string {
	if path.IsAbs(name) {
		return name
	}
	return filepath.Join(filepath.Dir(d.Path), name)
}

// replacements are the lines of the copy that differ, by position.
func replacements(f *conf.File, lf *LabFiles, runNotify bool) (map[conf.Pos]string, []Change) {
	repl := map[conf.Pos]string{}
	var changes []Change
	replace := func(p conf.Pos, raw, now, why string) {
		if _, done := repl[p]; done {
			return
		}
		repl[p] = now
		changes = append(changes, Change{Where: posOf(p), Was: strings.TrimSpace(raw), Now: strings.TrimSpace(now), Why: why})
	}
	for _, inc := range f.Includes {
		if path.IsAbs(inc.Pattern) {
			raw := f.Raw(inc.Line.Pos)
			replace(inc.Line.Pos, raw, strings.Replace(raw, inc.Pattern, filepath.Join(lf.Dir, "root")+inc.Pattern, 1), whyInclude)
		}
	}
	stubs := 0
	for _, c := range f.Commands {
		p, raw := c.Line.Pos, c.Raw
		switch {
		case machineKeywords[c.Keyword]:
			replace(p, raw, commentOut(raw), whyMachine)
		case fifoKeywords[c.Keyword]:
			fifo := lf.VRRPFifo
			if c.Keyword == "lvs_notify_fifo" {
				fifo = lf.LVSFifo
			}
			replace(p, raw, replaceArg(raw, c.Keyword, fifo), whyFifo)
		case notifyKeywords[c.Keyword] && !runNotify:
			stubs++
			id := "n" + strconv.Itoa(stubs)
			lf.Stubs = append(lf.Stubs, Stub{ID: id, Keyword: c.Keyword, Name: c.Block, Where: posOf(p), Was: strings.TrimSpace(raw)})
			replace(p, raw, replaceArg(raw, c.Keyword, quote(lf.Record+" "+id)), whyNotify)
		case c.Keyword == "script" || c.Keyword == "misc_path":
			stubs++
			id := "s" + strconv.Itoa(stubs)
			why := whyToggle
			if c.Keyword == "misc_path" {
				why = whyMisc
			}
			lf.Stubs = append(lf.Stubs, Stub{ID: id, Keyword: c.Keyword, Name: c.Block, Where: posOf(p), Was: strings.TrimSpace(raw)})
			replace(p, raw, replaceArg(raw, c.Keyword, quote(lf.Toggle+" "+id)), why)
		case c.Keyword == "process":
			lf.Stubs = append(lf.Stubs, Stub{ID: "p", Keyword: c.Keyword, Name: c.Block, Where: posOf(p), Was: strings.TrimSpace(raw)})
			replace(p, raw, replaceArg(raw, c.Keyword, trackedProcess), whyProcess)
		}
	}
	return repl, changes
}

// trackedProcess is the process name a copy's track_process follows: the
// lab's init process of every node namespace is never it, and the check
// runs none, so the tracked process is absent unless a check starts one.
const trackedProcess = "lvslab-tracked"

// commentOut keeps the line's text as a comment.
func commentOut(raw string) string {
	return "# lvslab: " + strings.TrimSpace(raw)
}

// replaceArg replaces what follows keyword on a physical line by arg,
// keeping the indentation and any closing brace of the same line.
func replaceArg(raw, keyword, arg string) string {
	i := strings.Index(raw, keyword)
	if i < 0 {
		return raw
	}
	rest := raw[i+len(keyword):]
	tail := ""
	if j := strings.LastIndex(rest, "}"); j >= 0 && !strings.Contains(rest[j:], "\"") {
		tail = " " + strings.TrimSpace(rest[j:])
	}
	return raw[:i] + keyword + " " + arg + tail
}

func quote(s string) string { return `"` + s + `"` }

// labGlobals are the lab's own lines after the operator's last: the
// event FIFOs the operator's file does not set already (replaced in
// place where it does).
func labGlobals(f *conf.File, lf *LabFiles) string {
	var b strings.Builder
	b.WriteString("\n# lvslab: the lab reads keepalived's events here (added after your last line)\nglobal_defs {\n")
	if !f.Global.VRRPNotifyFifo.Path.Set && !f.Global.NotifyFifo.Path.Set {
		fmt.Fprintf(&b, "    vrrp_notify_fifo %s\n", lf.VRRPFifo)
	}
	if !f.Global.LVSNotifyFifo.Path.Set {
		fmt.Fprintf(&b, "    lvs_notify_fifo %s\n", lf.LVSFifo)
	}
	b.WriteString("}\n")
	return b.String()
}

// writeStubs writes the recorder of notify calls and the toggled stub of
// tracked and MISC_CHECK scripts (root's, not writable by others, as
// keepalived's script security wants).
func writeStubs(lf *LabFiles) error {
	record := fmt.Sprintf("#!/bin/sh\n# lvslab: records a notify call instead of running it\necho \"$(date +%%s.%%N) $*\" >>%s\n", lf.Notes)
	// One process, no cat: keepalived kills a script that outlives its
	// timeout (1 s is common), and under emulation each exec is slow.
	toggle := fmt.Sprintf("#!/bin/sh\n# lvslab: exits as the check says (0 when it said nothing)\nstate=0\n[ -r %[1]s/\"$1\" ] && read -r state <%[1]s/\"$1\"\nexit \"$state\"\n", lf.States)
	for p, body := range map[string]string{lf.Record: record, lf.Toggle: toggle} {
		if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
			return err
		}
	}
	return nil
}
