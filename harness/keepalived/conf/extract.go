package conf

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// The extraction reads the block trees the way keepalived's handlers
// read their keywords (core/global_parser.c, vrrp/vrrp_parser.c,
// vrrp/vrrp_data.c, check/check_parser.c, check/check_data.c, the
// checkers): what a handler refuses is a Problem and leaves the setting
// unset; where a handler keeps the first value and refuses the next, so
// does the reader; elsewhere the last value wins.

type extractor struct {
	rd      *reader
	f       *File
	scripts map[string]*Script
	procs   map[string]*TrackedProcess
}

// problem records a Problem at a node's line.
func (x *extractor) problem(n *Node, format string, args ...any) {
	x.rd.problem(n.Line.Pos, fmt.Sprintf(format, args...))
}

// arg is strvec_slot(strvec, i) for i >= 1: a handler that reads a word
// the line does not have makes keepalived's process exit
// (null_strvec()).
func (x *extractor) arg(n *Node, i int, proc Process) (string, bool) {
	if i-1 < len(n.Args) {
		return n.Args[i-1], true
	}
	x.problem(n, "'%s' is missing a parameter: keepalived's %s process reports it and exits (keepalived stops)", n.Keyword, proc)
	return "", false
}

// number reads a handler's number into dst: refused, it is a Problem and
// leaves dst alone; with a warning (a running keepalived takes it), it is
// a Problem and set.
func number[T any](x *extractor, dst *Setting[T], n *Node, proc Process, parse func(string) (T, error)) bool {
	s, ok := x.arg(n, 1, proc)
	if !ok {
		return false
	}
	v, err := parse(s)
	if err != nil {
		x.problem(n, "%s: %v", n.Keyword, err)
		if !isWarning(err) {
			return false
		}
	}
	*dst = set(v, n.Line.Pos)
	return true
}

func (x *extractor) uint(dst *Setting[int], n *Node, proc Process, lo, hi uint64, ignore bool) bool {
	return number(x, dst, n, proc, func(s string) (int, error) {
		v, err := readUnsigned(s, lo, hi, ignore)
		return int(v), err
	})
}

func (x *extractor) timer(dst *Setting[time.Duration], n *Node, proc Process, lo, hi uint64) bool {
	return number(x, dst, n, proc, func(s string) (time.Duration, error) {
		v, err := readTimer(s, lo, hi, true)
		return micros(v), err
	})
}

// seconds reads a whole number of seconds (the handlers that multiply
// read_unsigned by TIMER_HZ).
func (x *extractor) seconds(dst *Setting[time.Duration], n *Node, proc Process, lo uint64) bool {
	var v Setting[int]
	if !x.uint(&v, n, proc, lo, math.MaxUint32/1000000, true) {
		return false
	}
	*dst = set(time.Duration(v.Value)*time.Second, n.Line.Pos)
	return true
}

// word sets dst to the keyword's first word, if it has one (the
// handlers that check the word count before reading it).
func word(dst *Setting[string], n *Node) {
	if len(n.Args) > 0 {
		*dst = set(n.Args[0], n.Line.Pos)
	}
}

// repeat reads a GARP repeat count: keepalived takes 0 (for
// compatibility) and makes it 1.
func (x *extractor) repeat(dst *Setting[int], n *Node, proc Process) {
	if x.uint(dst, n, proc, 0, math.MaxUint32, true) && dst.Value == 0 {
		x.problem(n, "%s must be greater than 0, setting to 1", n.Keyword)
		dst.Value = 1
	}
}

// flag is a keyword with an optional true/false word (check_true_false).
func (x *extractor) flag(dst *Setting[bool], n *Node) {
	v := true
	if len(n.Args) > 0 {
		switch checkTrueFalse(n.Args[0]) {
		case 1:
		case 0:
			v = false
		default:
			x.problem(n, "invalid %s %s specified - ignoring", n.Keyword, n.Args[0])
			return
		}
	}
	*dst = set(v, n.Line.Pos)
}

// command reads a line naming a program (notify_script_init,
// set_script_params_array): the line is split again with shell-like
// quoting; its second word is the command (one word: quote a command with
// arguments), the words after it the user and group when withUser.
func (x *extractor) command(n *Node, block string, withUser bool) *Command {
	x.recordCommand(n, block)
	words, ok := quotedWords(n.Line.Text)
	if !ok || len(words) < 2 {
		x.problem(n, "Unable to parse %s script: keepalived ignores it", n.Keyword)
		return nil
	}
	args, ok := quotedWords(words[1])
	if !ok || len(args) == 0 {
		x.problem(n, "Unable to parse script '%s' - ignoring", words[1])
		return nil
	}
	c := &Command{Args: args, Pos: n.Line.Pos}
	if withUser {
		if len(words) > 2 {
			c.User = words[2]
		}
		if len(words) > 3 {
			c.Group = words[3]
		}
	} else if len(words) > 2 {
		x.problem(n, "%s: keepalived runs only %q, without the words after it: quote the whole command", n.Keyword, words[1])
	}
	return c
}

func (x *extractor) recordCommand(n *Node, block string) {
	for _, c := range x.f.Commands {
		if c.Line.Pos == n.Line.Pos && c.Keyword == n.Keyword && c.Line.Text == n.Line.Text {
			return
		}
	}
	x.f.Commands = append(x.f.Commands, CommandLine{Keyword: n.Keyword, Line: n.Line, Raw: x.f.Raw(n.Line.Pos), Block: block})
}

// global reads the parent's tree.
func (x *extractor) global(nodes []*Node) {
	g := &x.f.Global
	for _, n := range nodes {
		switch n.Keyword {
		case "net_namespace", "instance":
			// net_namespace_handler, instance_handler: the first name
			// wins, and keepalived's pid files move to a directory.
			x.recordCommand(n, "")
			dst := &g.NetNamespace
			if n.Keyword == "instance" {
				dst = &g.Instance
			}
			switch {
			case len(n.Args) == 0:
				x.problem(n, "%s name missing - ignoring", n.Keyword)
			case dst.Set:
				x.problem(n, "Duplicate %s definition %s - ignoring", n.Keyword, n.Args[0])
			default:
				*dst = set(n.Args[0], n.Line.Pos)
				g.UsePidDir = set(true, n.Line.Pos)
			}
		case "use_pid_dir":
			x.recordCommand(n, "")
			g.UsePidDir = set(true, n.Line.Pos)
		case "global_defs":
			for _, c := range n.Children {
				x.globalDef(c)
			}
		}
	}
}

func (x *extractor) globalDef(n *Node) {
	g := &x.f.Global
	p := ParentProcess
	pos := n.Line.Pos
	switch n.Keyword {
	case "router_id":
		if len(n.Args) == 0 {
			x.problem(n, "routerid name missing - ignoring")
			return
		}
		g.RouterID = set(n.Args[0], pos)
	case "lvs_sync_daemon":
		x.syncDaemon(n)
	case "enable_script_security":
		g.ScriptSecurity = set(true, pos)
	case "script_user":
		if len(n.Args) == 0 {
			x.problem(n, "No script username specified")
			return
		}
		g.ScriptUser = set(n.Args[0], pos)
		if len(n.Args) > 1 {
			g.ScriptGroup = set(n.Args[1], pos)
		}
	case "notify_fifo", "vrrp_notify_fifo", "lvs_notify_fifo":
		x.recordCommand(n, "global_defs")
		fifo := x.fifo(n.Keyword)
		if len(n.Args) == 0 {
			x.problem(n, "No %s name specified", n.Keyword)
		} else if fifo.Path.Set {
			x.problem(n, "%s already specified - ignoring %s", n.Keyword, n.Args[0])
		} else {
			fifo.Path = set(n.Args[0], pos)
		}
	case "notify_fifo_script", "vrrp_notify_fifo_script", "lvs_notify_fifo_script":
		x.firstCommand(&x.fifo(strings.TrimSuffix(n.Keyword, "_script")).Script, n, "global_defs")
	case "startup_script":
		g.StartupScript = x.command(n, "global_defs", true)
	case "shutdown_script":
		g.ShutdownScript = x.command(n, "global_defs", true)
	case "vrrp_strict":
		g.VRRPStrict = set(true, pos)
	case "vrrp_version":
		s, ok := x.arg(n, 1, p)
		if !ok {
			return
		}
		v, err := readInt(s, 2, 3, true)
		if err != nil && !isWarning(err) {
			x.problem(n, "VRRP Error: Version must be either 2 or 3")
			return
		}
		g.VRRPVersion = set(int(v), pos)
	case "vrrp_garp_master_delay":
		x.seconds(&g.GARPMasterDelay, n, p, 0)
	case "vrrp_garp_master_repeat":
		x.repeat(&g.GARPMasterRepeat, n, p)
	case "vrrp_garp_master_refresh":
		x.seconds(&g.GARPMasterRefresh, n, p, 0)
	case "vrrp_garp_master_refresh_repeat":
		x.repeat(&g.GARPRefreshRepeat, n, p)
	case "vrrp_garp_lower_prio_delay":
		x.seconds(&g.GARPLowerPrioDelay, n, p, 0)
	case "vrrp_garp_lower_prio_repeat":
		x.uint(&g.GARPLowerPrioRepeat, n, p, 0, math.MaxInt32, true)
	case "vrrp_down_timer_adverts":
		x.uint(&g.DownTimerAdverts, n, p, 1, 100, true)
	case "vrrp_lower_prio_no_advert":
		x.flag(&g.LowerPrioNoAdvert, n)
	case "vrrp_higher_prio_send_advert":
		x.flag(&g.HigherPrioSendAdvert, n)
	case "vrrp_skip_check_adv_addr":
		g.SkipCheckAdvAddr = set(true, pos)
	case "vrrp_check_unicast_src":
		g.CheckUnicastSrc = set(true, pos)
	case "vrrp_startup_delay":
		x.timer(&g.StartupDelay, n, p, 0, 0)
	case "vrrp_mcast_group4", "vrrp_mcast_group6":
		s, ok := x.arg(n, 1, p)
		if !ok {
			return
		}
		a, ok := parseAddr(s)
		if !ok || !a.IsMulticast() || (n.Keyword == "vrrp_mcast_group4") != a.Is4() {
			x.problem(n, "%s: %s is not a multicast address of that family - ignoring", n.Keyword, s)
			return
		}
		if n.Keyword == "vrrp_mcast_group4" {
			g.McastGroup4 = set(a, pos)
		} else {
			g.McastGroup6 = set(a, pos)
		}
	case "lvs_flush":
		g.LVSFlush = set(true, pos)
	case "lvs_flush_on_stop", "lvs_flush_onstop":
		g.LVSFlushOnStop = set(true, pos)
	case "enable_dbus", "dbus_service_name":
		x.recordCommand(n, "global_defs")
		if n.Keyword == "enable_dbus" {
			g.DBus = set(true, pos)
		}
	case "enable_snmp_vrrp", "enable_snmp_keepalived":
		x.recordCommand(n, "global_defs")
		g.SNMPVRRP = set(true, pos)
	case "enable_snmp_checker":
		x.recordCommand(n, "global_defs")
		g.SNMPChecker = set(true, pos)
	case "enable_snmp_rfc":
		x.recordCommand(n, "global_defs")
		g.SNMPRFCv2 = set(true, pos)
		g.SNMPRFCv3 = set(true, pos)
	case "enable_snmp_rfcv2":
		x.recordCommand(n, "global_defs")
		g.SNMPRFCv2 = set(true, pos)
	case "enable_snmp_rfcv3":
		x.recordCommand(n, "global_defs")
		g.SNMPRFCv3 = set(true, pos)
	case "snmp_socket", "enable_traps", "reload_file", "reload_time_file", "tmp_config_directory", "process_names", "process_name",
		"vrrp_process_name", "checker_process_name", "lvs_process_name", "bfd_process_name", "data_use_instance", "reload_check_config":
		x.recordCommand(n, "global_defs")
	case "config_save_dir":
		x.recordCommand(n, "global_defs")
		word(&g.ConfigSaveDir, n)
	case "default_interface":
		word(&g.DefaultIface, n)
	case "dynamic_interfaces":
		g.DynamicIfaces = set(true, pos)
	case "max_auto_priority":
		if len(n.Args) == 0 {
			g.MaxAutoPriority = set(-1, pos)
			return
		}
		x.uint(&g.MaxAutoPriority, n, p, 0, 99, true)
	}
}

func (x *extractor) fifo(keyword string) *Fifo {
	switch keyword {
	case "vrrp_notify_fifo":
		return &x.f.Global.VRRPNotifyFifo
	case "lvs_notify_fifo":
		return &x.f.Global.LVSNotifyFifo
	}
	return &x.f.Global.NotifyFifo
}

// syncDaemon is lvs_syncd_handler.
func (x *extractor) syncDaemon(n *Node) {
	g := &x.f.Global
	if g.SyncDaemon != nil {
		x.problem(n, "lvs_sync_daemon has already been specified as %s - ignoring", g.SyncDaemon.Interface)
		return
	}
	if len(n.Args) == 0 {
		x.problem(n, "lvs_sync_daemon requires interface")
		return
	}
	if len(n.Args[0]) >= 16 {
		x.problem(n, "lvs_sync_daemon interface name '%s' too long - ignoring", n.Args[0])
		return
	}
	sd := &SyncDaemon{Pos: n.Line.Pos, Interface: n.Args[0]}
	g.SyncDaemon = sd
	pos := n.Line.Pos
	words := n.Args
	value := func(i int, what string) (string, bool) {
		if i+1 >= len(words) {
			x.problem(n, "No value specified for lvs_sync_daemon %s - ignoring", what)
			return "", false
		}
		return words[i+1], true
	}
	for i := 1; i < len(words); i++ {
		switch words[i] {
		case "inst":
			if sd.Instance != "" {
				x.problem(n, "lvs_sync_daemon vrrp instance has already been specified as %s - ignoring", sd.Instance)
			} else if i+1 < len(words) {
				sd.Instance = words[i+1]
			}
			i++
		case "id", "maxlen", "port", "ttl":
			s, ok := value(i, words[i])
			if !ok {
				continue
			}
			hi := map[string]uint64{"id": 255, "maxlen": 65535 - 20 - 8, "port": 65535, "ttl": 255}[words[i]]
			lo := uint64(1)
			if words[i] == "id" {
				lo = 0
			}
			v, err := readUnsigned(s, lo, hi, false)
			if err != nil {
				x.problem(n, "Invalid lvs_sync_daemon %s (%s) - ignoring", words[i], s)
			} else {
				st := set(int(v), pos)
				switch words[i] {
				case "id":
					sd.ID = st
				case "maxlen":
					sd.MaxLen = st
				case "port":
					sd.Port = st
				case "ttl":
					sd.TTL = st
				}
			}
			i++
		case "group":
			s, ok := value(i, "group")
			if !ok {
				continue
			}
			a, ok := parseAddr(s)
			if !ok || !a.IsMulticast() {
				x.problem(n, "lvs_sync_daemon group address %s is not multicast - ignoring", s)
			} else {
				sd.Group = set(a, pos)
			}
			i++
		default:
			// lvs_sync_daemon IF VRRP_INSTANCE [SYNC_ID], the old form.
			switch i {
			case 1:
				sd.Instance = words[i]
			case 2:
				v, err := readUnsigned(words[i], 0, 255, false)
				if err != nil {
					x.problem(n, "Invalid syncid (%s) - defaulting to vrid", words[i])
				} else {
					x.problem(n, "Please use keyword \"id\" before lvs_sync_daemon SYNCID")
					sd.ID = set(int(v), pos)
				}
			default:
				x.problem(n, "Unknown option %s specified for lvs_sync_daemon", words[i])
			}
		}
	}
}

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

func (x *extractor) syncGroup(n *Node) {
	name := n.Args[0]
	g := SyncGroup{Name: name, Pos: n.Line.Pos}
	block := "vrrp_sync_group " + name
	for _, c := range n.Children {
		pos := c.Line.Pos
		switch c.Keyword {
		case "group":
			if c.Skipped {
				continue
			}
			if len(g.Members) > 0 {
				x.problem(c, "Group list already specified for sync group %s", name)
				continue
			}
			for _, e := range c.Children {
				g.Members = append(g.Members, e.Keyword)
				g.Members = append(g.Members, e.Args...)
			}
			g.MembersPos = pos
			if len(g.Members) == 0 {
				x.problem(c, "Warning - sync group %s has empty group block", name)
			}
		case "track_interface", "track_script", "track_process":
			for _, e := range c.Children {
				switch c.Keyword {
				case "track_interface":
					g.TrackInterfaces = x.track(name, c.Keyword, e, g.TrackInterfaces)
				case "track_script":
					g.TrackScripts = x.track(name, c.Keyword, e, g.TrackScripts)
				case "track_process":
					g.TrackProcesses = x.track(name, c.Keyword, e, g.TrackProcesses)
				}
			}
		case "notify_master", "notify_backup", "notify_fault", "notify_stop", "notify":
			x.notify(c, &g.Notify, block)
		case "global_tracking":
			x.problem(c, "(%s) global_tracking is deprecated. Use track_interface/script/file on the sync group", name)
			g.GlobalTracking = set(true, pos)
		case "sync_group_tracking_weight":
			g.GlobalTracking = set(true, pos)
		case "smtp_alert":
			x.flag(&g.SMTPAlert, c)
		case "notify_priority_changes":
			x.flag(&g.NotifyPrio, c)
		}
	}
	x.f.SyncGroups = append(x.f.SyncGroups, g)
}

func (x *extractor) instance(n *Node) {
	name := n.Args[0]
	v := Instance{Name: name, Pos: n.Line.Pos}
	block := "vrrp_instance " + name
	family := ""
	setFamily := func(c *Node, a netip.Addr, what string) bool {
		f := "inet"
		if a.Is6() {
			f = "inet6"
		}
		if family == "" {
			family = f
			return true
		}
		if family != f {
			x.problem(c, "(%s) %s %s MUST be of the instance's family - skipping", name, what, a)
			return false
		}
		return true
	}
	for _, c := range n.Children {
		pos := c.Line.Pos
		switch c.Keyword {
		case "state":
			s, ok := x.arg(c, 1, VRRPProcess)
			if !ok {
				continue
			}
			switch {
			case s == "MASTER":
				v.State = set("MASTER", pos)
			case s == "BACKUP" && v.State.Value == "MASTER":
				x.problem(c, "(%s) state previously set as MASTER - ignoring BACKUP", name)
			case s == "BACKUP":
				v.State = set("BACKUP", pos)
			default:
				x.problem(c, "(%s) unknown state '%s', defaulting to BACKUP", name, s)
				v.State = set("BACKUP", pos)
			}
		case "interface":
			s, ok := x.arg(c, 1, VRRPProcess)
			if !ok {
				continue
			}
			if len(s) >= 16 {
				x.problem(c, "Interface name '%s' too long - ignoring", s)
				continue
			}
			v.Interface = set(s, pos)
		case "dont_track_primary":
			v.DontTrackPrimary = set(true, pos)
		case "track_interface", "track_script", "track_process":
			for _, e := range c.Children {
				switch c.Keyword {
				case "track_interface":
					v.TrackInterfaces = x.track(name, c.Keyword, e, v.TrackInterfaces)
				case "track_script":
					v.TrackScripts = x.track(name, c.Keyword, e, v.TrackScripts)
				case "track_process":
					v.TrackProcesses = x.track(name, c.Keyword, e, v.TrackProcesses)
				}
			}
		case "virtual_router_id":
			x.uint(&v.VRID, c, VRRPProcess, 1, 255, false)
		case "priority":
			x.uint(&v.Priority, c, VRRPProcess, 1, 255, false)
		case "advert_int":
			if x.timer(&v.AdvertInt, c, VRRPProcess, 10000, 255*1000000) && v.AdvertInt.Value <= 0 {
				v.AdvertInt = Setting[time.Duration]{}
			}
		case "version":
			s, ok := x.arg(c, 1, VRRPProcess)
			if !ok {
				continue
			}
			ver, err := readInt(s, 2, 3, true)
			if err != nil && !isWarning(err) {
				x.problem(c, "(%s): Version must be either 2 or 3", name)
				continue
			}
			if (v.Version.Set && v.Version.Value != int(ver)) || (ver == 2 && family == "inet6") {
				x.problem(c, "(%s) vrrp_version %d conflicts with configured or deduced version; ignoring.", name, ver)
				continue
			}
			v.Version = set(int(ver), pos)
		case "native_ipv6":
			if family == "inet" {
				x.problem(c, "(%s) Cannot specify native_ipv6 with IPv4 addresses", name)
				continue
			}
			family = "inet6"
			v.Version = set(3, pos)
		case "nopreempt":
			v.NoPreempt = set(true, pos)
		case "preempt":
			v.NoPreempt = set(false, pos)
		case "preempt_delay":
			x.timer(&v.PreemptDelay, c, VRRPProcess, 0, 1000*1000000)
		case "strict_mode":
			x.flag(&v.Strict, c)
		case "accept":
			v.Accept = set(true, pos)
		case "no_accept":
			v.Accept = set(false, pos)
		case "virtual_ipaddress", "virtual_ipaddress_excluded":
			for _, e := range c.Children {
				vip, ok := x.vip(e)
				if !ok {
					continue
				}
				if c.Keyword == "virtual_ipaddress" {
					if !setFamily(e, vip.Prefix.Addr(), "address") {
						continue
					}
					v.VIPs = append(v.VIPs, vip)
				} else {
					v.ExcludedVIPs = append(v.ExcludedVIPs, vip)
				}
			}
		case "virtual_routes":
			for _, e := range c.Children {
				v.VirtualRoutes = append(v.VirtualRoutes, Route{Words: append([]string{e.Keyword}, e.Args...), Pos: e.Line.Pos})
			}
		case "unicast_src_ip", "mcast_src_ip":
			s, ok := x.arg(c, 1, VRRPProcess)
			if !ok {
				continue
			}
			a, ok := parseAddr(s)
			if !ok {
				x.problem(c, "Configuration error: VRRP instance[%s] malformed src address[%s]. Skipping...", name, s)
				continue
			}
			if !setFamily(c, a, "src address") {
				continue
			}
			if c.Keyword == "unicast_src_ip" {
				v.UnicastSrcIP = set(a, pos)
			} else {
				v.McastSrcIP = set(a, pos)
			}
		case "unicast_peer":
			for _, e := range c.Children {
				a, ok := parseAddr(strings.SplitN(strings.SplitN(e.Keyword, "-", 2)[0], "/", 2)[0])
				if !ok {
					x.problem(e, "Configuration error: VRRP instance[%s] malformed unicast peer address[%s]. Skipping...", name, e.Keyword)
					continue
				}
				if !setFamily(e, a, "unicast peer address") {
					continue
				}
				p := Peer{Addr: a, MinTTL: 0, MaxTTL: 255, Pos: e.Line.Pos}
				for i := 0; i < len(e.Args); i += 2 {
					if i+1 >= len(e.Args) {
						x.problem(e, "(%s) %s is missing a value", name, e.Args[i])
						break
					}
					ttl, err := readUnsigned(e.Args[i+1], 0, 255, false)
					if err != nil {
						continue
					}
					if e.Args[i] == "min_ttl" {
						p.MinTTL = int(ttl)
					} else if e.Args[i] == "max_ttl" {
						p.MaxTTL = int(ttl)
					} else {
						x.problem(e, "(%s) unknown unicast_peer option %s", name, e.Args[i])
						break
					}
				}
				v.UnicastPeers = append(v.UnicastPeers, p)
			}
		case "unicast_ttl":
			x.uint(&v.UnicastTTL, c, VRRPProcess, 0, 255, false)
		case "use_vmac":
			v.UseVMAC = set(true, pos)
			for _, a := range c.Args[:min(2, len(c.Args))] {
				if !strings.Contains(a, ":") && !v.VMACInterface.Set {
					v.VMACInterface = set(a, pos)
				}
			}
		case "vmac_xmit_base":
			v.VMACXmitBase = set(true, pos)
		case "authentication":
			for _, a := range c.Children {
				s, ok := x.arg(a, 1, VRRPProcess)
				if !ok {
					continue
				}
				switch a.Keyword {
				case "auth_type":
					if s != "AH" && s != "PASS" {
						x.problem(a, "(%s) unknown authentication type '%s'", name, s)
						continue
					}
					v.Auth.Type = set(s, a.Line.Pos)
				case "auth_pass":
					if len(s) > 8 {
						x.problem(a, "Truncating auth_pass to 8 characters")
						s = s[:8]
					}
					v.Auth.Pass = set(s, a.Line.Pos)
				}
			}
		case "notify_master", "notify_backup", "notify_fault", "notify_stop", "notify_deleted", "notify", "notify_master_rx_lower_pri":
			x.notify(c, &v.Notify, block)
		case "smtp_alert":
			x.flag(&v.SMTPAlert, c)
		case "lvs_sync_daemon_interface":
			x.problem(c, "(%s) Specifying lvs_sync_daemon_interface against a vrrp is deprecated. Please use global lvs_sync_daemon", name)
			s, ok := x.arg(c, 1, VRRPProcess)
			if !ok {
				continue
			}
			if x.f.Global.SyncDaemon != nil {
				x.problem(c, "(%s) lvs_sync_daemon_interface has already been specified as %s - ignoring", name, x.f.Global.SyncDaemon.Interface)
				continue
			}
			x.f.Global.SyncDaemon = &SyncDaemon{Pos: pos, Interface: s, Instance: name}
		case "garp_master_delay":
			x.seconds(&v.GARPMasterDelay, c, VRRPProcess, 0)
		case "garp_master_repeat":
			x.repeat(&v.GARPMasterRepeat, c, VRRPProcess)
		case "down_timer_adverts":
			x.uint(&v.DownTimerAdverts, c, VRRPProcess, 1, 100, true)
		case "lower_prio_no_advert":
			x.flag(&v.LowerPrioNoAdvert, c)
		case "higher_prio_send_advert":
			x.flag(&v.HigherPrioSendAdvert, c)
		}
	}
	x.f.Instances = append(x.f.Instances, v)
}

// vip reads a virtual_ipaddress entry (alloc_ipaddress).
func (x *extractor) vip(e *Node) (VIP, bool) {
	s := e.Keyword
	bits := -1
	addr := s
	if i := strings.IndexByte(s, '/'); i >= 0 {
		addr = s[:i]
		b, err := readUnsigned(s[i+1:], 0, 128, true)
		if err != nil && !isWarning(err) {
			x.problem(e, "Invalid address prefix len %s for address %s - using the full length", s[i+1:], s)
		} else {
			bits = int(b)
		}
	}
	a, ok := parseAddr(addr)
	if !ok {
		x.problem(e, "VRRP parsed invalid IP %s. skipping IP...", s)
		return VIP{}, false
	}
	if bits < 0 || bits > a.BitLen() {
		bits = a.BitLen()
	}
	v := VIP{Prefix: netip.PrefixFrom(a, bits), Pos: e.Line.Pos}
	for i := 0; i < len(e.Args); i++ {
		w := e.Args[i]
		next := func() (string, bool) {
			if i+1 < len(e.Args) {
				i++
				return e.Args[i], true
			}
			x.problem(e, "No %s parameter specified for %s", w, s)
			return "", false
		}
		switch w {
		case "dev":
			if d, ok := next(); ok {
				if v.Dev != "" {
					x.problem(e, "Cannot specify ipaddress device more than once for %s", s)
				} else {
					v.Dev = d
				}
			}
		case "scope":
			if d, ok := next(); ok {
				v.Scope = d
			}
		case "label":
			if d, ok := next(); ok {
				v.Label = d
			}
		case "broadcast", "brd", "peer", "preferred_lft":
			v.Options = append(v.Options, w)
			if d, ok := next(); ok {
				v.Options = append(v.Options, d)
			}
		case "home", "-nodad", "mngtmpaddr", "noprefixroute", "autojoin", "no_track", "use_vmac":
			v.Options = append(v.Options, w)
		default:
			x.problem(e, "Unknown configuration entry '%s' for ip address - ignoring", w)
		}
	}
	return v, true
}

// checker reads the checker process's tree.
func (x *extractor) checker(nodes []*Node) {
	for _, n := range nodes {
		switch n.Keyword {
		case "virtual_server_group":
			x.group(n)
		case "virtual_server":
			if !n.Skipped {
				x.virtualServer(n)
			}
		case "SSL":
			for _, c := range n.Children {
				x.recordCommand(c, "SSL")
			}
		}
	}
}

func (x *extractor) group(n *Node) {
	name, ok := x.arg(n, 1, CheckerProcess)
	if !ok {
		return
	}
	g := VirtualServerGroup{Name: name, Pos: n.Line.Pos}
	for _, e := range n.Children {
		if en, ok := x.groupEntry(name, e); ok {
			g.Entries = append(g.Entries, en)
		}
	}
	if len(g.Entries) == 0 {
		x.problem(n, "virtual server group %s has no entries - removing", name)
		return
	}
	x.f.Groups = append(x.f.Groups, g)
}

// groupEntry is alloc_vsg_entry.
func (x *extractor) groupEntry(group string, e *Node) (GroupEntry, bool) {
	en := GroupEntry{Pos: e.Line.Pos}
	s := e.Keyword
	if s == "fwmark" {
		v, ok := x.arg(e, 1, CheckerProcess)
		if !ok {
			return en, false
		}
		m, err := readUnsigned(v, 0, math.MaxUint32, true)
		if err != nil && !isWarning(err) {
			x.problem(e, "(%s): fwmark '%s' must be in [0, %d] - ignoring", group, v, uint32(math.MaxUint32))
			return en, false
		}
		mark := int(m)
		en.FWMark = &mark
		if len(e.Args) > 1 {
			if e.Args[1] != "inet" && e.Args[1] != "inet6" {
				x.problem(e, "(%s): fwmark '%d' family %s unknown - ignoring", group, mark, e.Args[1])
				return en, false
			}
			en.Family = e.Args[1]
		}
		return en, true
	}
	port := ""
	if len(e.Args) > 0 {
		port = e.Args[0]
	}
	ap, ok := parseSockaddr(s, port)
	if !ok {
		x.problem(e, "Invalid virtual server group IP address %s %s - skipping", s, port)
		return en, false
	}
	en.Port = int(ap.Port())
	first := ap.Addr()
	en.First, en.Last = first, first
	switch {
	case strings.Contains(s, "/"):
		bits, _, rest := strtoul(s[strings.IndexByte(s, '/')+1:])
		if rest != "" || bits == 0 || bits > uint64(first.BitLen()) {
			x.problem(e, "Invalid netmask - %s - skipping", s)
			return en, false
		}
		pfx := netip.PrefixFrom(first, int(bits))
		if pfx.Masked().Addr() != first {
			x.problem(e, "Address mask bits not empty - %s - skipping", s)
			return en, false
		}
		en.Last = lastOf(pfx)
	case strings.Contains(s, "-"):
		end := s[strings.IndexByte(s, '-')+1:]
		if (first.Is4() && strings.Contains(end, ".")) || (first.Is6() && strings.Contains(end, ":")) {
			last, ok := parseSockaddr(end, port)
			if !ok {
				x.problem(e, "Invalid range end %s - skipping", s)
				return en, false
			}
			if last.Addr().Is4() != first.Is4() {
				x.problem(e, "Range address families do not match %s - skipping", s)
				return en, false
			}
			if last.Addr().Less(first) {
				x.problem(e, "Address range end is less than address range start - %s - skipping", s)
				return en, false
			}
			en.Last = last.Addr()
			break
		}
		// inet_stor: the last octet (IPv4, decimal) or group (IPv6, hex).
		base := 10
		limit := uint64(255)
		if first.Is6() {
			base, limit = 16, 0xffff
		}
		r, err := strconv.ParseUint(end, base, 64)
		if err != nil || r > limit {
			x.problem(e, "Virtual server group range '%s' end '%s' invalid or too large", s, end)
			return en, false
		}
		b := first.AsSlice()
		var start uint64
		if first.Is4() {
			start = uint64(b[3])
			b[3] = byte(r)
		} else {
			start = uint64(b[14])<<8 | uint64(b[15])
			b[14], b[15] = byte(r>>8), byte(r)
		}
		if start >= r {
			x.problem(e, "Address range end is not greater than address range start - %s - skipping", s)
			return en, false
		}
		en.Last, _ = netip.AddrFromSlice(b)
	}
	return en, true
}

func lastOf(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

func (x *extractor) virtualServer(n *Node) {
	if len(n.Args) == 0 {
		x.arg(n, 1, CheckerProcess)
		return
	}
	va, err := parseVSAddress(n.Args)
	if err != nil {
		return // the tree skipped it
	}
	vs := VirtualServer{Pos: n.Line.Pos, Addr: va.addr, FWMark: va.fwmark, Group: va.group}
	if va.addr.IsValid() {
		vs.Family = set(family(va.addr.Addr()), n.Line.Pos)
	}
	block := "virtual_server " + strings.Join(n.Args, " ")
	for _, c := range n.Children {
		pos := c.Line.Pos
		switch c.Keyword {
		case "ip_family":
			s, ok := x.arg(c, 1, CheckerProcess)
			if !ok {
				continue
			}
			if s != "inet" && s != "inet6" {
				x.problem(c, "unknown address family %s", s)
				continue
			}
			if vs.Family.Set && vs.Family.Value != s {
				x.problem(c, "Virtual server specified family %s conflicts with server family", s)
				continue
			}
			vs.Family = set(s, pos)
		case "retry", "delay_before_retry", "warmup", "connect_timeout", "delay_loop":
			x.timing(&vs.Timing, c)
		case "inhibit_on_failure":
			vs.Inhibit = set(true, pos)
		case "lb_algo", "lvs_sched":
			s, ok := x.arg(c, 1, CheckerProcess)
			if !ok {
				continue
			}
			if !isScheduler(s) {
				x.problem(c, "Invalid lvs_scheduler '%s' - ignoring", s)
				continue
			}
			vs.Scheduler = set(s, pos)
		case "ops":
			vs.OPS = set(true, pos)
		case "hashed", "flag-1", "flag-2", "flag-3":
			vs.SchedFlags = append(vs.SchedFlags, c.Keyword)
		case "sh-port", "sh-fallback", "mh-port", "mh-fallback":
			if vs.Scheduler.Value != c.Keyword[:2] {
				x.problem(c, "%s only applies to %s scheduler - ignoring", c.Keyword, c.Keyword[:2])
				continue
			}
			vs.SchedFlags = append(vs.SchedFlags, c.Keyword)
		case "lb_kind", "lvs_method":
			x.method(c, &vs.Method, &vs.Tunnel)
		case "persistence_timeout":
			if len(c.Args) == 0 {
				vs.Persistence = set(360*time.Second, pos)
				continue
			}
			var p Setting[int]
			if x.uint(&p, c, CheckerProcess, 1, 2678400, false) {
				vs.Persistence = set(time.Duration(p.Value)*time.Second, pos)
			}
		case "persistence_granularity":
			s, ok := x.arg(c, 1, CheckerProcess)
			if !ok {
				continue
			}
			vs.Granularity = set(s, pos)
			if !vs.Persistence.Set || vs.Persistence.Value == 0 {
				vs.Persistence = Setting[time.Duration]{Value: 360 * time.Second, Pos: pos, Set: true, Default: "persistence_granularity turns persistence on"}
			}
		case "protocol":
			s, ok := x.arg(c, 1, CheckerProcess)
			if !ok {
				continue
			}
			switch u := strings.ToUpper(s); u {
			case "TCP", "UDP", "SCTP":
				vs.Protocol = set(u, pos)
			default:
				x.problem(c, "Unknown protocol %s - ignoring", s)
			}
		case "ha_suspend":
			vs.HASuspend = set(true, pos)
		case "virtualhost":
			word(&vs.VirtualHost, c)
		case "alpha":
			vs.Alpha = set(true, pos)
		case "omega":
			vs.Omega = set(true, pos)
		case "quorum_up", "quorum_down":
			dst := &vs.QuorumUp
			if c.Keyword == "quorum_down" {
				dst = &vs.QuorumDown
			}
			x.firstCommand(dst, c, block)
		case "quorum":
			if !x.uint(&vs.Quorum, c, CheckerProcess, 1, math.MaxUint32, true) {
				vs.Quorum = Setting[int]{}
			}
		case "hysteresis":
			x.uint(&vs.Hysteresis, c, CheckerProcess, 0, math.MaxUint32, true)
		case "weight":
			x.uint(&vs.Weight, c, CheckerProcess, 1, math.MaxInt32, true)
		case "sorry_server":
			ip, ok := x.arg(c, 1, CheckerProcess)
			if !ok {
				continue
			}
			port := ""
			if len(c.Args) > 1 {
				port = c.Args[1]
			}
			ap, ok := parseSockaddr(ip, port)
			if !ok {
				x.problem(c, "Invalid sorry server IP address %s - skipping", ip)
				continue
			}
			vs.SorryServer = &SorryServer{Addr: ap, Pos: pos}
		case "sorry_server_inhibit":
			if vs.SorryServer == nil {
				x.problem(c, "Ignoring sorry_server inhibit used before or without sorry_server")
				continue
			}
			vs.SorryServer.Inhibit = set(true, pos)
		case "sorry_server_lvs_method":
			if vs.SorryServer == nil {
				x.problem(c, "sorry_server forwarding used without sorry_server")
				continue
			}
			var t Tunnel
			x.method(c, &vs.SorryServer.Method, &t)
		case "real_server":
			if c.Skipped {
				continue
			}
			if rs, ok := x.realServer(&vs, c, block); ok {
				vs.Reals = append(vs.Reals, rs)
			}
		}
	}
	x.f.VirtualServers = append(x.f.VirtualServers, vs)
}

// timing reads a virtual or real server's timing keyword (vs_*_handler,
// rs_*_handler: retry at least 1, unlike a checker's).
func (x *extractor) timing(t *Timing, c *Node) {
	switch c.Keyword {
	case "retry":
		x.uint(&t.Retry, c, CheckerProcess, 1, math.MaxUint32, false)
	case "delay_before_retry":
		x.timer(&t.DelayBeforeRetry, c, CheckerProcess, 0, 0)
	case "warmup":
		x.timer(&t.Warmup, c, CheckerProcess, 0, 0)
	case "connect_timeout":
		x.timer(&t.ConnectTimeout, c, CheckerProcess, 1, math.MaxUint32)
	case "delay_loop":
		x.timer(&t.DelayLoop, c, CheckerProcess, 1, 0)
	}
}

func family(a netip.Addr) string {
	if a.Is4() {
		return "inet"
	}
	return "inet6"
}

// isScheduler says whether keepalived knows an IPVS scheduler name
// (lvs_schedulers, check/check_parser.c).
func isScheduler(s string) bool {
	switch s {
	case "rr", "wrr", "lc", "wlc", "lblc", "sh", "mh", "dh", "fo", "ovf", "lblcr", "sed", "nq", "twos":
		return true
	}
	return false
}

// method is svr_forwarding_handler: NAT, DR or TUN [type ipip|gue|gre]
// [port N] [nocsum|csum|remcsum].
func (x *extractor) method(c *Node, dst *Setting[string], tun *Tunnel) {
	s, ok := x.arg(c, 1, CheckerProcess)
	if !ok {
		return
	}
	if s != "NAT" && s != "DR" && s != "TUN" {
		x.problem(c, "PARSER : unknown [%s] routing method.", s)
		return
	}
	t := Tunnel{Type: "ipip", Csum: "nocsum", Pos: c.Line.Pos}
	for i := 1; i < len(c.Args); i++ {
		switch w := c.Args[i]; w {
		case "type":
			if i+1 >= len(c.Args) {
				x.problem(c, "Missing tunnel type.")
				return
			}
			i++
			switch c.Args[i] {
			case "ipip", "gue", "gre":
				t.Type = c.Args[i]
			default:
				x.problem(c, "Unknown tunnel type %s.", c.Args[i])
				return
			}
		case "port":
			if i+1 >= len(c.Args) {
				x.problem(c, "Missing port for gue tunnel.")
				return
			}
			i++
			p, err := readUnsigned(c.Args[i], 1, 65535, false)
			if err != nil {
				x.problem(c, "Invalid gue tunnel port %s.", c.Args[i])
				return
			}
			t.Port = int(p)
		case "nocsum", "csum", "remcsum":
			t.Csum = w
		default:
			x.problem(c, "Invalid tunnel option %s.", w)
			return
		}
	}
	if (t.Type == "gue") != (t.Port != 0) {
		x.problem(c, "gue tunnels require port, otherwise cannot have port.")
		return
	}
	if t.Type == "ipip" && t.Csum != "nocsum" {
		x.problem(c, "ipip tunnels do not support checksum option.")
		return
	}
	if t.Type == "gre" && t.Csum == "remcsum" {
		x.problem(c, "gre tunnels do not support remote checksum option.")
		return
	}
	*dst = set(s, c.Line.Pos)
	if s == "TUN" {
		*tun = t
	}
}

func (x *extractor) realServer(vs *VirtualServer, n *Node, vsBlock string) (RealServer, bool) {
	ip, ok := x.arg(n, 1, CheckerProcess)
	if !ok {
		return RealServer{}, false
	}
	port := ""
	if len(n.Args) > 1 {
		port = n.Args[1]
	}
	ap, _ := parseSockaddr(ip, port)
	rs := RealServer{Pos: n.Line.Pos, Addr: ap}
	block := vsBlock + " real_server " + strings.Join(n.Args, " ")
	for _, c := range n.Children {
		switch c.Keyword {
		case "weight":
			x.uint(&rs.Weight, c, CheckerProcess, 0, math.MaxInt32, true)
		case "lvs_method":
			x.method(c, &rs.Method, &rs.Tunnel)
		case "uthreshold":
			x.uint(&rs.UThreshold, c, CheckerProcess, 0, math.MaxUint32, true)
		case "lthreshold":
			x.uint(&rs.LThreshold, c, CheckerProcess, 0, math.MaxUint32, true)
		case "inhibit_on_failure":
			x.flag(&rs.Inhibit, c)
		case "alpha":
			x.flag(&rs.Alpha, c)
		case "notify_up", "notify_down":
			dst := &rs.NotifyUp
			if c.Keyword == "notify_down" {
				dst = &rs.NotifyDown
			}
			x.firstCommand(dst, c, block)
		case "retry", "delay_before_retry", "warmup", "connect_timeout", "delay_loop":
			x.timing(&rs.Timing, c)
		case "virtualhost":
			word(&rs.VirtualHost, c)
		case "MISC_CHECK", "SMTP_CHECK", "TCP_CHECK", "PING_CHECK", "UDP_CHECK", "HTTP_GET", "SSL_GET", "DNS_CHECK", "FILE_CHECK", "BFD_CHECK":
			rs.Checkers = append(rs.Checkers, x.checkerBlock(c, block)...)
		}
	}
	// rs_end_handler: a real server of another family than its virtual
	// server is dropped, unless tunnelled.
	method := rs.Method
	if !method.Set {
		method = vs.Method
	}
	if method.Value != "TUN" {
		f := family(ap.Addr())
		if vs.Family.Set && vs.Family.Value != f {
			x.problem(n, "Address family of virtual server and real server %s don't match - skipping real server.", ap.Addr())
			return rs, false
		}
		if !vs.Family.Set {
			vs.Family = Setting[string]{Value: f, Pos: n.Line.Pos, Set: true, Default: "from its first real server"}
		}
	}
	return rs, true
}

// checkerBlock reads a checker block: one checker, or for an SMTP_CHECK
// with (deprecated) host blocks, one a host.
func (x *extractor) checkerBlock(n *Node, rsBlock string) []Checker {
	ch := Checker{Kind: n.Keyword, Pos: n.Line.Pos}
	block := rsBlock + " " + n.Keyword
	var hosts []Checker
	for _, c := range n.Children {
		if c.Keyword == "host" && n.Keyword == "SMTP_CHECK" {
			// smtp_host_handler: a host has connection options of its
			// own, and no timeout unless it sets one; the other keywords
			// in it set the SMTP_CHECK's own.
			h := Checker{Kind: n.Keyword, Pos: c.Line.Pos}
			for _, hc := range c.Children {
				if isConnectionKeyword(hc.Keyword) {
					x.checkerKeyword(&h, hc, n, block)
				} else {
					x.checkerKeyword(&ch, hc, n, block)
				}
			}
			if !h.ConnectTimeout.Set {
				h.ConnectTimeout.Default = "none: keepalived 2.2.7 gives an SMTP_CHECK host block no timeout unless it sets one"
			}
			hosts = append(hosts, h)
			continue
		}
		x.checkerKeyword(&ch, c, n, block)
	}
	ch.check(x, n)
	if len(hosts) == 0 {
		return []Checker{ch}
	}
	// smtp_check_end_handler: without connection options of its own, the
	// checker takes the first host's; each other host is a copy of the
	// checker with that host's.
	x.problem(n, "The SMTP_CHECK host block is deprecated. Please define additional checkers.")
	out := []Checker{ch}
	if !ch.ConnectIP.Set && !ch.ConnectPort.Set && !ch.BindTo.Set && !ch.BindPort.Set && !ch.BindIf.Set && !ch.FWMark.Set && !ch.ConnectTimeout.Set {
		out[0].setConnection(hosts[0])
		hosts = hosts[1:]
	}
	for _, h := range hosts {
		c := ch
		c.Pos = h.Pos
		c.setConnection(h)
		out = append(out, c)
	}
	return out
}

func isConnectionKeyword(k string) bool {
	switch k {
	case "connect_ip", "connect_port", "bindto", "bind_port", "bind_if", "connect_timeout", "fwmark":
		return true
	}
	return false
}

func (c *Checker) setConnection(h Checker) {
	c.ConnectIP, c.ConnectPort, c.BindTo, c.BindPort, c.BindIf, c.FWMark, c.ConnectTimeout =
		h.ConnectIP, h.ConnectPort, h.BindTo, h.BindPort, h.BindIf, h.FWMark, h.ConnectTimeout
}

// check drops what keepalived drops once a checker block ends.
func (ch *Checker) check(x *extractor, n *Node) {
	switch {
	case (ch.Kind == "HTTP_GET" || ch.Kind == "SSL_GET") && len(ch.URLs) == 0:
		x.problem(n, "HTTP/SSL_GET checker has no urls specified - ignoring")
		ch.Dropped = true
	case ch.Kind == "MISC_CHECK" && ch.Misc == nil:
		x.problem(n, "No script path has been specified for MISC_CHECKER - skipping")
		ch.Dropped = true
	}
}

func (x *extractor) checkerKeyword(ch *Checker, c *Node, n *Node, block string) {
	{
		pos := c.Line.Pos
		switch c.Keyword {
		case "connect_ip", "bindto":
			s, ok := x.arg(c, 1, CheckerProcess)
			if !ok {
				return
			}
			a, ok := parseAddr(strings.SplitN(strings.SplitN(s, "-", 2)[0], "/", 2)[0])
			if !ok {
				x.problem(c, "Invalid %s address %s - ignoring", c.Keyword, s)
				return
			}
			if c.Keyword == "connect_ip" {
				ch.ConnectIP = set(a, pos)
			} else {
				ch.BindTo = set(a, pos)
			}
		case "connect_port":
			x.uint(&ch.ConnectPort, c, CheckerProcess, 1, 65535, true)
		case "bind_port":
			x.uint(&ch.BindPort, c, CheckerProcess, 1, 65535, true)
		case "bind_if":
			if s, ok := x.arg(c, 1, CheckerProcess); ok {
				ch.BindIf = set(s, pos)
			}
		case "fwmark":
			x.uint(&ch.FWMark, c, CheckerProcess, 0, math.MaxUint32, true)
		case "connect_timeout":
			x.timer(&ch.ConnectTimeout, c, CheckerProcess, 1, math.MaxUint32)
		case "retry", "nb_get_retry":
			if c.Keyword == "nb_get_retry" {
				x.problem(c, "nb_get_retry is deprecated - please use 'retry'")
			}
			x.uint(&ch.Retry, c, CheckerProcess, 0, math.MaxUint32, true)
		case "delay_before_retry":
			x.timer(&ch.DelayBeforeRetry, c, CheckerProcess, 0, 0)
		case "warmup":
			x.timer(&ch.Warmup, c, CheckerProcess, 0, 0)
		case "delay_loop":
			x.timer(&ch.DelayLoop, c, CheckerProcess, 1, 0)
		case "alpha":
			x.flag(&ch.Alpha, c)
		case "virtualhost":
			word(&ch.VirtualHost, c)
		case "http_protocol":
			word(&ch.HTTPProtocol, c)
		case "fast_recovery":
			x.flag(&ch.FastRecovery, c)
		case "enable_sni":
			x.flag(&ch.EnableSNI, c)
		case "url":
			ch.URLs = append(ch.URLs, x.url(c))
		case "misc_path":
			ch.Misc = x.command(c, block, false)
		case "misc_timeout":
			x.seconds(&ch.MiscTimeout, c, CheckerProcess, 0)
		case "misc_dynamic":
			ch.MiscDynamic = set(true, pos)
		case "user":
			if ch.Misc != nil && len(c.Args) > 0 {
				ch.Misc.User = c.Args[0]
				if len(c.Args) > 1 {
					ch.Misc.Group = c.Args[1]
				}
			}
		case "helo_name":
			word(&ch.HeloName, c)
		case "type":
			word(&ch.DNSType, c)
		case "name":
			if len(c.Args) > 0 {
				if n.Keyword == "BFD_CHECK" {
					ch.BFDName = set(c.Args[0], pos)
				} else {
					ch.DNSName = set(c.Args[0], pos)
				}
			}
		case "payload":
			word(&ch.Payload, c)
		case "require_reply":
			ch.RequireRep = set(true, pos)
		case "track_file":
			word(&ch.TrackFile, c)
		}
	}
}

func (x *extractor) url(n *Node) URL {
	u := URL{Pos: n.Line.Pos}
	for _, c := range n.Children {
		pos := c.Line.Pos
		switch c.Keyword {
		case "path":
			if s, ok := x.arg(c, 1, CheckerProcess); ok {
				u.Path = set(s, pos)
			}
		case "digest":
			s, ok := x.arg(c, 1, CheckerProcess)
			if !ok {
				continue
			}
			if u.Digest.Set {
				x.problem(c, "Digest '%s' is a duplicate", s)
				continue
			}
			if len(s) != 32 || strings.Trim(strings.ToLower(s), "0123456789abcdef") != "" {
				x.problem(c, "digest '%s' must be 32 hexadecimal digits - ignoring", s)
				continue
			}
			u.Digest = set(s, pos)
		case "status_code":
			for _, s := range c.Args {
				lo, _, rest := strtoul(s)
				hi := lo
				if strings.HasPrefix(rest, "-") {
					hi, _, rest = strtoul(rest[1:])
				}
				if rest != "" || lo < 100 || lo > 599 || hi < 100 || hi > 599 || lo > hi {
					x.problem(c, "Invalid HTTP_GET status code '%s'", s)
					continue
				}
				u.StatusCodes = append(u.StatusCodes, StatusRange{Min: int(lo), Max: int(hi)})
			}
		case "virtualhost":
			word(&u.VirtualHost, c)
		case "regex":
			words, ok := quotedWords(c.Line.Text)
			if ok && len(words) > 1 {
				u.Regex = set(words[1], pos)
			}
		}
	}
	return u
}
