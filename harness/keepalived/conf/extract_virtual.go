package conf

import (
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

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
			x.vsFamily(&vs, c)
		case "retry", "delay_before_retry", "warmup", "connect_timeout", "delay_loop":
			x.timing(&vs.Timing, c)
		case "inhibit_on_failure":
			vs.Inhibit = set(true, pos)
		case "lb_algo", "lvs_sched":
			x.vsScheduler(&vs, c)
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
		case "persistence_timeout", "persistence_granularity":
			x.persistence(&vs, c)
		case "protocol":
			x.vsProtocol(&vs, c)
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
		case "sorry_server", "sorry_server_inhibit", "sorry_server_lvs_method":
			x.sorryServer(&vs, c)
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

// vsFamily reads ip_family, which must agree with the address.
func (x *extractor) vsFamily(vs *VirtualServer, c *Node) {
	pos := c.Line.Pos
	s, ok := x.arg(c, 1, CheckerProcess)
	if !ok {
		return
	}
	if s != "inet" && s != "inet6" {
		x.problem(c, "unknown address family %s", s)
		return
	}
	if vs.Family.Set && vs.Family.Value != s {
		x.problem(c, "Virtual server specified family %s conflicts with server family", s)
		return
	}
	vs.Family = set(s, pos)
}

func (x *extractor) vsScheduler(vs *VirtualServer, c *Node) {
	pos := c.Line.Pos
	s, ok := x.arg(c, 1, CheckerProcess)
	if !ok {
		return
	}
	if !isScheduler(s) {
		x.problem(c, "Invalid lvs_scheduler '%s' - ignoring", s)
		return
	}
	vs.Scheduler = set(s, pos)
}

// persistence reads persistence_timeout (360s without a value) and
// persistence_granularity, which turns persistence on.
func (x *extractor) persistence(vs *VirtualServer, c *Node) {
	pos := c.Line.Pos
	switch c.Keyword {
	case "persistence_timeout":
		if len(c.Args) == 0 {
			vs.Persistence = set(360*time.Second, pos)
			return
		}
		var p Setting[int]
		if x.uint(&p, c, CheckerProcess, 1, 2678400, false) {
			vs.Persistence = set(time.Duration(p.Value)*time.Second, pos)
		}
	case "persistence_granularity":
		s, ok := x.arg(c, 1, CheckerProcess)
		if !ok {
			return
		}
		vs.Granularity = set(s, pos)
		if !vs.Persistence.Set || vs.Persistence.Value == 0 {
			vs.Persistence = Setting[time.Duration]{Value: 360 * time.Second, Pos: pos, Set: true, Default: "persistence_granularity turns persistence on"}
		}
	}
}

func (x *extractor) vsProtocol(vs *VirtualServer, c *Node) {
	pos := c.Line.Pos
	s, ok := x.arg(c, 1, CheckerProcess)
	if !ok {
		return
	}
	switch u := strings.ToUpper(s); u {
	case "TCP", "UDP", "SCTP":
		vs.Protocol = set(u, pos)
	default:
		x.problem(c, "Unknown protocol %s - ignoring", s)
	}
}

// sorryServer reads sorry_server and the keywords that refine it.
func (x *extractor) sorryServer(vs *VirtualServer, c *Node) {
	pos := c.Line.Pos
	switch c.Keyword {
	case "sorry_server":
		ip, ok := x.arg(c, 1, CheckerProcess)
		if !ok {
			return
		}
		port := ""
		if len(c.Args) > 1 {
			port = c.Args[1]
		}
		ap, ok := parseSockaddr(ip, port)
		if !ok {
			x.problem(c, "Invalid sorry server IP address %s - skipping", ip)
			return
		}
		vs.SorryServer = &SorryServer{Addr: ap, Pos: pos}
	case "sorry_server_inhibit":
		if vs.SorryServer == nil {
			x.problem(c, "Ignoring sorry_server inhibit used before or without sorry_server")
			return
		}
		vs.SorryServer.Inhibit = set(true, pos)
	case "sorry_server_lvs_method":
		if vs.SorryServer == nil {
			x.problem(c, "sorry_server forwarding used without sorry_server")
			return
		}
		var t Tunnel
		x.method(c, &vs.SorryServer.Method, &t)
	}
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
