package conf

import (
	"net/netip"
	"strings"
	"time"
)

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

// instanceBlock is a vrrp_instance being read: the instance and the
// address family its first address (or native_ipv6) fixed.
type instanceBlock struct {
	x      *extractor
	v      *Instance
	family string
}

func (x *extractor) instance(n *Node) {
	name := n.Args[0]
	v := Instance{Name: name, Pos: n.Line.Pos}
	b := &instanceBlock{x: x, v: &v}
	block := "vrrp_instance " + name
	for _, c := range n.Children {
		pos := c.Line.Pos
		switch c.Keyword {
		case "state":
			b.state(c)
		case "interface":
			b.iface(c)
		case "dont_track_primary":
			v.DontTrackPrimary = set(true, pos)
		case "track_interface", "track_script", "track_process":
			b.tracks(c)
		case "virtual_router_id":
			x.uint(&v.VRID, c, VRRPProcess, 1, 255, false)
		case "priority":
			x.uint(&v.Priority, c, VRRPProcess, 1, 255, false)
		case "advert_int":
			if x.timer(&v.AdvertInt, c, VRRPProcess, 10000, 255*1000000) && v.AdvertInt.Value <= 0 {
				v.AdvertInt = Setting[time.Duration]{}
			}
		case "version":
			b.version(c)
		case "native_ipv6":
			if b.family == "inet" {
				x.problem(c, "(%s) Cannot specify native_ipv6 with IPv4 addresses", name)
				continue
			}
			b.family = "inet6"
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
			b.addresses(c)
		case "virtual_routes":
			for _, e := range c.Children {
				v.VirtualRoutes = append(v.VirtualRoutes, Route{Words: append([]string{e.Keyword}, e.Args...), Pos: e.Line.Pos})
			}
		case "unicast_src_ip", "mcast_src_ip":
			b.srcIP(c)
		case "unicast_peer":
			for _, e := range c.Children {
				if p, ok := b.peer(e); ok {
					v.UnicastPeers = append(v.UnicastPeers, p)
				}
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
			b.authentication(c)
		case "notify_master", "notify_backup", "notify_fault", "notify_stop", "notify_deleted", "notify", "notify_master_rx_lower_pri":
			x.notify(c, &v.Notify, block)
		case "smtp_alert":
			x.flag(&v.SMTPAlert, c)
		case "lvs_sync_daemon_interface":
			b.syncDaemonInterface(c)
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

// setFamily fixes the instance's family at its first address, and
// refuses an address of the other family.
func (b *instanceBlock) setFamily(c *Node, a netip.Addr, what string) bool {
	f := "inet"
	if a.Is6() {
		f = "inet6"
	}
	if b.family == "" {
		b.family = f
		return true
	}
	if b.family != f {
		b.x.problem(c, "(%s) %s %s MUST be of the instance's family - skipping", b.v.Name, what, a)
		return false
	}
	return true
}

func (b *instanceBlock) state(c *Node) {
	x, v, name, pos := b.x, b.v, b.v.Name, c.Line.Pos
	s, ok := x.arg(c, 1, VRRPProcess)
	if !ok {
		return
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
}

func (b *instanceBlock) iface(c *Node) {
	s, ok := b.x.arg(c, 1, VRRPProcess)
	if !ok {
		return
	}
	if len(s) >= 16 {
		b.x.problem(c, "Interface name '%s' too long - ignoring", s)
		return
	}
	b.v.Interface = set(s, c.Line.Pos)
}

func (b *instanceBlock) tracks(c *Node) {
	x, v, name := b.x, b.v, b.v.Name
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
}

func (b *instanceBlock) version(c *Node) {
	x, v, name := b.x, b.v, b.v.Name
	s, ok := x.arg(c, 1, VRRPProcess)
	if !ok {
		return
	}
	ver, err := readInt(s, 2, 3, true)
	if err != nil && !isWarning(err) {
		x.problem(c, "(%s): Version must be either 2 or 3", name)
		return
	}
	if (v.Version.Set && v.Version.Value != int(ver)) || (ver == 2 && b.family == "inet6") {
		x.problem(c, "(%s) vrrp_version %d conflicts with configured or deduced version; ignoring.", name, ver)
		return
	}
	v.Version = set(int(ver), c.Line.Pos)
}

// addresses reads virtual_ipaddress or virtual_ipaddress_excluded.
func (b *instanceBlock) addresses(c *Node) {
	for _, e := range c.Children {
		vip, ok := b.x.vip(e)
		if !ok {
			continue
		}
		if c.Keyword == "virtual_ipaddress" {
			if !b.setFamily(e, vip.Prefix.Addr(), "address") {
				continue
			}
			b.v.VIPs = append(b.v.VIPs, vip)
		} else {
			b.v.ExcludedVIPs = append(b.v.ExcludedVIPs, vip)
		}
	}
}

// srcIP reads unicast_src_ip or mcast_src_ip.
func (b *instanceBlock) srcIP(c *Node) {
	x, v := b.x, b.v
	s, ok := x.arg(c, 1, VRRPProcess)
	if !ok {
		return
	}
	a, ok := parseAddr(s)
	if !ok {
		x.problem(c, "Configuration error: VRRP instance[%s] malformed src address[%s]. Skipping...", v.Name, s)
		return
	}
	if !b.setFamily(c, a, "src address") {
		return
	}
	if c.Keyword == "unicast_src_ip" {
		v.UnicastSrcIP = set(a, c.Line.Pos)
	} else {
		v.McastSrcIP = set(a, c.Line.Pos)
	}
}

// peer reads a unicast_peer entry: an address, then min_ttl and max_ttl.
func (b *instanceBlock) peer(e *Node) (Peer, bool) {
	x, name := b.x, b.v.Name
	a, ok := parseAddr(strings.SplitN(strings.SplitN(e.Keyword, "-", 2)[0], "/", 2)[0])
	if !ok {
		x.problem(e, "Configuration error: VRRP instance[%s] malformed unicast peer address[%s]. Skipping...", name, e.Keyword)
		return Peer{}, false
	}
	if !b.setFamily(e, a, "unicast peer address") {
		return Peer{}, false
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
	return p, true
}

func (b *instanceBlock) authentication(c *Node) {
	x, v, name := b.x, b.v, b.v.Name
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
}

// syncDaemonInterface is the deprecated lvs_sync_daemon_interface of an
// instance: the global lvs_sync_daemon, unless that is set already.
func (b *instanceBlock) syncDaemonInterface(c *Node) {
	x, name := b.x, b.v.Name
	x.problem(c, "(%s) Specifying lvs_sync_daemon_interface against a vrrp is deprecated. Please use global lvs_sync_daemon", name)
	s, ok := x.arg(c, 1, VRRPProcess)
	if !ok {
		return
	}
	if x.f.Global.SyncDaemon != nil {
		x.problem(c, "(%s) lvs_sync_daemon_interface has already been specified as %s - ignoring", name, x.f.Global.SyncDaemon.Interface)
		return
	}
	x.f.Global.SyncDaemon = &SyncDaemon{Pos: c.Line.Pos, Interface: s, Instance: name}
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
