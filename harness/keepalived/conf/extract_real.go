package conf

import (
	"math"
	"strings"
)

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
