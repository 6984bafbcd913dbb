package conf

import (
	"math"
	"strings"
	"time"
)

// vrrp reads the VRRP process's tree.
func (x *extractor) vrrp(nodes []*Node) {
	for _, n := range nodes {
		switch n.Keyword {
		case "vrrp_script":
			x.script(n)
		case "vrrp_track_process":
			x.trackProcess(n)
		case "vrrp_sync_group":
			if !n.Skipped {
				x.syncGroup(n)
			}
		case "vrrp_instance":
			if !n.Skipped {
				x.instance(n)
			}
		case "track_file", "vrrp_track_file":
			for _, c := range n.Find("file") {
				x.recordCommand(c, n.Keyword+" "+strings.Join(n.Args, " "))
			}
		}
	}
}

func (x *extractor) script(n *Node) {
	name, ok := x.arg(n, 1, VRRPProcess)
	if !ok {
		return
	}
	s := &Script{Name: name, Pos: n.Line.Pos}
	block := "vrrp_script " + name
	removed := false
	for _, c := range n.Children {
		pos := c.Line.Pos
		switch c.Keyword {
		case "script":
			s.Command = x.command(c, block, false)
		case "interval", "timeout":
			dst := &s.Interval
			if c.Keyword == "timeout" {
				dst = &s.Timeout
			}
			if x.seconds(dst, c, VRRPProcess, 0) && dst.Value == 0 {
				x.problem(c, "(%s): vrrp script %s must be greater than 0, setting to 1", name, c.Keyword)
				dst.Value = time.Second
			}
		case "weight":
			v, ok := x.arg(c, 1, VRRPProcess)
			if !ok {
				continue
			}
			w, err := readInt(v, -253, 253, true)
			if err != nil {
				x.problem(c, "vrrp_script %s weight %s must be in [-253, 253]", name, v)
			}
			// vrrp_vscript_weight_handler keeps the value even when it
			// refuses it.
			s.Weight = set(int(int32(w)), pos)
			if len(c.Args) > 1 {
				if c.Args[1] == "reverse" {
					s.Reverse = true
				} else {
					x.problem(c, "vrrp_script %s unknown weight option %s", name, c.Args[1])
				}
			}
		case "rise", "fall":
			dst := &s.Rise
			if c.Keyword == "fall" {
				dst = &s.Fall
			}
			if !x.uint(dst, c, VRRPProcess, 1, math.MaxInt32, true) {
				*dst = Setting[int]{}
			}
		case "user":
			if len(c.Args) == 0 {
				x.problem(c, "Unable to set uid/gid for script: no user")
				removed = true
				continue
			}
			s.User = set(c.Args[0], pos)
			if len(c.Args) > 1 {
				s.Group = set(c.Args[1], pos)
			}
		case "init_fail":
			s.InitFail = set(true, pos)
		}
	}
	if s.Command == nil {
		x.problem(n, "No script set for vrrp_script %s - removing", name)
		removed = true
	}
	if removed {
		return
	}
	x.f.Scripts = append(x.f.Scripts, *s)
	x.scripts[name] = &x.f.Scripts[len(x.f.Scripts)-1]
}

func (x *extractor) trackProcess(n *Node) {
	name, ok := x.arg(n, 1, VRRPProcess)
	if !ok {
		return
	}
	t := &TrackedProcess{Name: name, Pos: n.Line.Pos}
	block := "vrrp_track_process " + name
	for _, c := range n.Children {
		pos := c.Line.Pos
		switch c.Keyword {
		case "process":
			x.recordCommand(c, block)
			v, ok := x.arg(c, 1, VRRPProcess)
			if !ok {
				continue
			}
			if t.Process.Set {
				x.problem(c, "Process already set for track process %s - ignoring %s", name, v)
				continue
			}
			t.Process = set(v, pos)
			if len(c.Args) > 1 {
				t.Params = append([]string(nil), c.Args[1:]...)
				if !t.ParamMatch.Set {
					t.ParamMatch = set("exact", pos)
				}
				t.FullCmd = set(true, pos)
			}
		case "param_match":
			switch {
			case len(c.Args) == 0:
				t.ParamMatch = set("exact", pos)
			case c.Args[0] == "initial" || c.Args[0] == "partial":
				t.ParamMatch = set(c.Args[0], pos)
			default:
				x.problem(c, "Invalid param_match type %s - ignoring", c.Args[0])
				continue
			}
			t.FullCmd = set(true, pos)
		case "weight":
			if len(c.Args) == 0 {
				x.problem(c, "No weight specified for track process %s - ignoring", name)
				continue
			}
			if t.Weight.Set && t.Weight.Value != 0 {
				x.problem(c, "Weight already set for track process %s - ignoring %s", name, c.Args[0])
				continue
			}
			w, err := readInt(c.Args[0], -254, 254, true)
			if err != nil && !isWarning(err) {
				x.problem(c, "Weight (%s) for vrrp_track_process %s must be between [-254..254] inclusive. Ignoring...", c.Args[0], name)
				continue
			}
			if len(c.Args) > 1 {
				if c.Args[1] == "reverse" {
					t.Reverse = true
				} else {
					x.problem(c, "vrrp_track_process %s unknown weight option %s", name, c.Args[1])
				}
			}
			t.Weight = set(int(w), pos)
		case "quorum":
			var q Setting[int]
			if x.uint(&q, c, VRRPProcess, 1, 65535, true) {
				if t.QuorumMax.Set && q.Value > t.QuorumMax.Value {
					x.problem(c, "Quorum is greater than quorum_max - ignoring")
					continue
				}
				t.Quorum = q
			}
		case "quorum_max":
			x.uint(&t.QuorumMax, c, VRRPProcess, 0, 65535, true)
		case "delay", "terminate_delay", "fork_delay":
			x.timer(&t.Delay, c, VRRPProcess, 0, 0)
		case "full_command":
			x.flag(&t.FullCmd, c)
		}
	}
	x.f.Processes = append(x.f.Processes, *t)
	x.procs[name] = &x.f.Processes[len(x.f.Processes)-1]
}

// track reads a track_interface, track_script or track_process entry
// (alloc_track_if, alloc_track_script, alloc_track_process).
func (x *extractor) track(owner string, kind string, e *Node, list []Track) []Track {
	t := Track{Name: e.Keyword, Pos: e.Line.Pos}
	for _, o := range list {
		if o.Name == t.Name {
			x.problem(e, "(%s) duplicate %s %s - ignoring", owner, kind, t.Name)
			return list
		}
	}
	lo, hi := int64(-254), int64(254)
	switch kind {
	case "track_script":
		s := x.scripts[t.Name]
		if s == nil {
			x.problem(e, "(%s) track script %s not found, ignoring...: keepalived needs the vrrp_script before the instance that tracks it", owner, t.Name)
			return list
		}
		t.Weight = Setting[int]{Value: s.Weight.Value, Pos: s.Weight.Pos, Set: s.Weight.Set, Default: "from vrrp_script " + s.Name}
		t.Reverse = s.Reverse
	case "track_process":
		p := x.procs[t.Name]
		if p == nil {
			x.problem(e, "(%s) track process %s not found, ignoring...", owner, t.Name)
			return list
		}
		t.Weight = Setting[int]{Value: p.Weight.Value, Pos: p.Weight.Pos, Set: p.Weight.Set, Default: "from vrrp_track_process " + p.Name}
		t.Reverse = p.Reverse
	}
	if len(e.Args) > 0 {
		if e.Args[0] != "weight" {
			x.problem(e, "(%s) unknown %s %s option %s - ignoring", owner, kind, t.Name, e.Args[0])
			return list
		}
		if len(e.Args) == 1 {
			x.problem(e, "(%s) weight without value specified for %s %s - ignoring", owner, kind, t.Name)
			return list
		}
		w, err := readInt(e.Args[1], lo, hi, true)
		switch {
		case err != nil && !isWarning(err):
			x.problem(e, "(%s) weight %s for %s must be between [-253..253] inclusive. Ignoring...", owner, e.Args[1], t.Name)
			if kind == "track_interface" {
				t.Weight = set(0, e.Line.Pos)
			}
		case kind != "track_process" && (w == -254 || w == 254):
			x.problem(e, "(%s) weight for %s cannot be +/-254. Setting to +/-253", owner, t.Name)
			t.Weight = set(int(w/254*253), e.Line.Pos)
		default:
			t.Weight = set(int(w), e.Line.Pos)
		}
		if len(e.Args) > 2 {
			switch {
			case e.Args[2] == "reverse":
				t.Reverse = true
			case e.Args[2] == "noreverse" && kind != "track_interface":
				t.Reverse = false
			default:
				x.problem(e, "(%s) unknown %s %s weight option %s - ignoring", owner, kind, t.Name, e.Args[2])
			}
		}
	}
	return append(list, t)
}

func (x *extractor) notify(n *Node, nt *Notify, block string) {
	var dst **Command
	switch n.Keyword {
	case "notify_master":
		dst = &nt.Master
	case "notify_backup":
		dst = &nt.Backup
	case "notify_fault":
		dst = &nt.Fault
	case "notify_stop":
		dst = &nt.Stop
	case "notify_deleted":
		dst = &nt.Deleted
		if len(n.Args) == 0 {
			return
		}
	case "notify":
		dst = &nt.Any
	case "notify_master_rx_lower_pri":
		dst = &nt.MasterRxLowerPri
	default:
		return
	}
	x.firstCommand(dst, n, block)
}

// firstCommand reads a program into dst unless it has one: those
// handlers keep the first and refuse the next.
func (x *extractor) firstCommand(dst **Command, n *Node, block string) {
	if *dst != nil {
		x.recordCommand(n, block)
		x.problem(n, "(%s) %s script already specified - ignoring", block, n.Keyword)
		return
	}
	*dst = x.command(n, block, true)
}
