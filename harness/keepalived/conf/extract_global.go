package conf

import (
	"math"
	"strings"
)

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
	default:
		x.globalVRRPDef(n)
	}
}

// globalVRRPDef reads the global_defs keywords of the VRRP process's
// defaults (vrrp_*).
func (x *extractor) globalVRRPDef(n *Node) {
	g := &x.f.Global
	p := ParentProcess
	pos := n.Line.Pos
	switch n.Keyword {
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
