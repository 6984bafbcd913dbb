package conf

import (
	"bufio"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// ParseDump reads the facts of keepalived's data files: vrrp is
// keepalived.data (the VRRP process's), check keepalived_check.data (the
// checker's); either may be empty when keepalived runs no such process.
func ParseDump(vrrp, check string) (Facts, error) {
	var w factWriter
	if err := parseVRRPDump(&w, vrrp); err != nil {
		return nil, fmt.Errorf("keepalived.data: %w", err)
	}
	if err := parseCheckDump(&w, check); err != nil {
		return nil, fmt.Errorf("keepalived_check.data: %w", err)
	}
	return w.facts(), nil
}

// dumpLine splits "   Key = Value" into its indent, key and value.
func dumpLine(l string) (indent int, key, value string) {
	indent = len(l) - len(strings.TrimLeft(l, " "))
	t := strings.TrimSpace(l)
	if i := strings.Index(t, " = "); i >= 0 {
		return indent, t[:i], t[i+3:]
	}
	return indent, t, ""
}

func parseVRRPDump(w *factWriter, text string) error {
	section := ""
	inst, list := "", ""
	var group string
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "------<") {
			section = strings.Trim(l, "-<> ")
			continue
		}
		indent, key, value := dumpLine(l)
		switch section {
		case "Global definitions":
			switch key {
			case "Router ID":
				if value != "[unknown]" {
					w.add("router_id = %s", value)
				}
			case "LVS syncd vrrp instance":
				w.add("lvs_sync_daemon instance = %s", value)
			case "LVS syncd interface":
				w.add("lvs_sync_daemon interface = %s", value)
			case "LVS syncd syncid":
				w.add("lvs_sync_daemon syncid = %s", value)
			}
		case "VRRP Topology":
			if indent == 1 && key == "VRRP Instance" {
				inst, list = value, ""
				continue
			}
			p := "instance " + inst
			if indent == 3 {
				list = ""
				if err := instanceFact(w, p, key, value); err != nil {
					return err
				}
				switch {
				case strings.HasPrefix(key, "Virtual IP ("):
					list = "vip"
				case key == "Unicast Peer :":
					list = "peer"
				case key == "Tracked scripts :":
					list = "script"
				case key == "Virtual IP Excluded :", strings.HasSuffix(key, " :"):
					list = "other"
				}
				continue
			}
			if indent == 5 {
				if err := instanceListFact(w, p, list, l, strings.Fields(key+" "+value)); err != nil {
					return err
				}
			}
		case "VRRP Sync groups":
			if indent == 1 && strings.HasPrefix(key, "VRRP Sync Group") {
				group = strings.SplitN(value, ",", 2)[0]
				list = ""
				continue
			}
			if indent == 3 {
				list = key
				continue
			}
			if indent == 5 && list == "VRRP member instances :" {
				w.add("sync_group %s member %s", group, key)
			}
		}
	}
	return sc.Err()
}

// instanceFact adds the fact of a VRRP instance's setting line.
func instanceFact(w *factWriter, p, key, value string) error {
	switch key {
	case "Interface":
		w.add("%s interface = %s", p, strings.SplitN(value, ",", 2)[0])
	case "Virtual Router ID":
		w.add("%s vrid = %s", p, value)
	case "Priority":
		w.add("%s priority = %s", p, value)
	case "VRRP Version":
		w.add("%s version = %s", p, value)
	case "Advert interval":
		f := strings.Fields(value)
		if len(f) != 2 {
			return fmt.Errorf("advert interval %q", value)
		}
		n, _ := strconv.Atoi(f[0])
		d := time.Duration(n) * time.Second
		if f[1] == "milli-sec" {
			d = time.Duration(n) * time.Millisecond
		}
		w.add("%s advert_int = %s", p, d)
	case "Preempt":
		w.add("%s preempt = %v", p, value == "enabled")
	case "Preempt delay":
		secs, _ := strconv.ParseFloat(strings.TrimSuffix(value, " secs"), 64)
		w.add("%s preempt_delay = %s", p, time.Duration(secs*float64(time.Second)))
	case "Using src_ip":
		if strings.HasSuffix(value, " (from configuration)") {
			w.add("%s src_ip = %s", p, strings.Fields(value)[0])
		}
	case "Virtual IP (" + strings.TrimSuffix(strings.TrimPrefix(key, "Virtual IP ("), ")") + ")":
	}
	return nil
}

// instanceListFact adds the fact of an entry of an instance's list (a
// VIP, a unicast peer, a tracked script); l is the dump's line.
func instanceListFact(w *factWriter, p, list, l string, f []string) error {
	switch list {
	case "vip":
		dev := ""
		for i := 0; i+1 < len(f); i++ {
			if f[i] == "dev" {
				dev = f[i+1]
			}
		}
		pfx, err := netip.ParsePrefix(f[0])
		if err != nil {
			// A full-length prefix is dumped without it.
			a, aerr := netip.ParseAddr(f[0])
			if aerr != nil {
				return fmt.Errorf("VIP %q: %w", l, err)
			}
			pfx = netip.PrefixFrom(a, a.BitLen())
		}
		w.add("%s vip %s dev %s", p, pfx, dev)
	case "peer":
		w.add("%s unicast_peer %s", p, strings.Join(f, " "))
	case "script":
		w.add("%s track_script %s", p, strings.Join(f, " "))
	}
	return nil
}

// checkDump is the state of reading a checker process's dump: the
// section and the virtual server, real server and checker being read.
type checkDump struct {
	w                                    *factWriter
	section, vs, proto, rs, sub, checker string
	inVS                                 bool
	n                                    map[string]int    // checkers per real server
	rsOf                                 map[string]string // checker header -> the prefix of its real server
	vsLines                              []string
	vsHeader                             func(string) string
}

func parseCheckDump(w *factWriter, text string) error {
	d := &checkDump{w: w, n: map[string]int{}, rsOf: map[string]string{}}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(l), "------<") {
			d.header(l)
			continue
		}
		indent, key, value := dumpLine(l)
		var err error
		switch d.section {
		case "Global definitions":
			if key == "Router ID" && value != "[unknown]" {
				w.add("router_id = %s", value)
			}
		case "LVS Topology":
			err = d.topology(l, indent, key, value)
		case "Health checkers":
			err = d.checkers(l, indent, key, value)
		}
		if err != nil {
			return err
		}
	}
	d.flushVS()
	return mergeCodes(w, sc.Err())
}

func (d *checkDump) flushVS() {
	for _, l := range d.vsLines {
		d.w.add("vs %s %s", d.vs, strings.ReplaceAll(l, "{proto}", d.proto))
	}
	d.vsLines = nil
}

// header starts a section, or a block within one.
func (d *checkDump) header(l string) {
	name := strings.Trim(strings.TrimSpace(l), "-<> ")
	switch {
	case !strings.HasPrefix(l, "------<"):
		// A block within a section: a virtual server, its real
		// server, a group.
		switch name {
		case "Virtual server":
			d.flushVS()
			d.vs, d.proto, d.rs, d.sub, d.inVS = "", "", "", "", true
		case "Real server":
			d.rs, d.sub = "pending", ""
		default:
			d.flushVS()
			d.vs, d.rs, d.sub, d.inVS = "", "", "", false
		}
	default:
		d.flushVS()
		d.section, d.inVS = name, false
	}
}

// topology reads a line of the LVS Topology section.
func (d *checkDump) topology(l string, indent int, key, value string) error {
	switch {
	case !d.inVS:
	case indent == 1 && key == "VS VIP":
		// "VS VIP = A, VPORT = P"
		f := strings.Split(value, ", VPORT = ")
		if len(f) != 2 {
			return fmt.Errorf("virtual server %q", l)
		}
		d.vsHeader = func(proto string) string { return fmt.Sprintf("[%s]:%s:%s", f[0], proto, f[1]) }
		d.vs = "?"
	case indent == 1 && key == "VS FWMARK":
		d.vs = "FWM " + value
		d.vsHeader = nil
	case indent == 1 && key == "VS GROUP":
		d.vs = value
		d.vsHeader = nil
	case indent == 3 && key == "RIP":
		// "RIP = A, RPORT = P, WEIGHT = W EFF WEIGHT = E"
		if d.vs == "?" {
			d.vs = d.vsHeader(d.proto)
		}
		d.flushVS()
		var a, port, weight string
		for _, part := range strings.Split(key+" = "+value, ", ") {
			kv := strings.SplitN(part, " = ", 2)
			if len(kv) != 2 {
				continue
			}
			switch kv[0] {
			case "RIP":
				a = kv[1]
			case "RPORT":
				port = kv[1]
			case "WEIGHT":
				weight = strings.Fields(kv[1])[0]
			}
		}
		d.rs = fmt.Sprintf("vs %s rs [%s]:%s:%s", d.vs, a, d.proto, port)
		d.rsOf[fmt.Sprintf("%s -> [%s]:%s:%s", d.vs, a, d.proto, port)] = d.rs
		d.w.add("%s weight = %s", d.rs, weight)
	case indent == 3 && d.rs != "" && d.rs != "pending":
		switch {
		case key == "forwarding method":
			d.w.add("%s method = %s", d.rs, strings.Fields(strings.SplitN(value, ",", 2)[0])[0])
		case strings.HasPrefix(key, "Inhibit on failure is"):
			d.w.add("%s inhibit_on_failure = %v", d.rs, strings.HasSuffix(key, "ON"))
		}
	case indent == 3:
		switch {
		case key == "protocol":
			d.proto = strings.ToLower(value)
			d.vsLines = append(d.vsLines, "protocol = "+d.proto)
		case key == "lvs_sched":
			d.vsLines = append(d.vsLines, "scheduler = "+value)
		case key == "default forwarding method":
			d.vsLines = append(d.vsLines, "method = "+strings.Fields(strings.SplitN(value, ",", 2)[0])[0])
		case key == "persistence timeout":
			d.vsLines = append(d.vsLines, "persistence = "+value)
		case key == "quorum":
			d.vsLines = append(d.vsLines, "quorum = "+strings.ReplaceAll(value, ",", ""))
		case key == "delay_loop":
			d.vsLines = append(d.vsLines, "delay_loop = "+seconds(value))
		case key == "connection timeout":
			d.vsLines = append(d.vsLines, "connect_timeout = "+seconds(value))
		case strings.HasPrefix(key, "Inhibit on failure is"):
			d.vsLines = append(d.vsLines, fmt.Sprintf("inhibit_on_failure = %v", strings.HasSuffix(key, "ON")))
		case key == "Using HA suspend":
			d.vsLines = append(d.vsLines, "ha_suspend")
		case key == "sorry server":
			d.sub = value
		}
	case indent == 5 && d.sub != "" && d.rs == "":
		switch {
		case key == "forwarding method":
			d.sub += " method " + strings.Fields(strings.SplitN(value, ",", 2)[0])[0]
		case strings.HasPrefix(key, "Inhibit on failure is"):
			d.vsLines = append(d.vsLines, fmt.Sprintf("sorry_server = %s inhibit %v", strings.ReplaceAll(d.sub, "(duplicates rs) ", ""), strings.HasSuffix(key, "ON")))
			d.sub = ""
		}
	}
	return nil
}

// checkers reads a line of the Health checkers section.
func (d *checkDump) checkers(l string, indent int, key, value string) error {
	switch {
	case indent == 1 && strings.Contains(key, " -> "):
		prefix, ok := d.rsOf[key]
		if !ok {
			return fmt.Errorf("checker of an unknown real server %q", key)
		}
		d.n[prefix]++
		d.checker = fmt.Sprintf("%s check %d", prefix, d.n[prefix])
		d.sub = ""
	case d.checker == "":
	case indent == 3:
		d.sub = key
		switch key {
		case "Delay loop":
			d.w.add("%s delay_loop = %s", d.checker, micros(usec(value)))
		case "Warmup":
			d.w.add("%s warmup = %s", d.checker, micros(usec(value)))
		case "Retries":
			d.w.add("%s retry = %s", d.checker, value)
		case "Delay before retry":
			d.w.add("%s delay_before_retry = %s", d.checker, micros(usec(value)))
		case "Keepalive method":
			d.w.add("%s kind = %s", d.checker, strings.SplitN(value, ",", 2)[0])
		case "Checked url":
			d.sub = "url " + value
		}
	case indent == 5 && d.sub == "Connection":
		switch key {
		case "Dest":
			// inet_sockaddrtopair: "[ADDR]:PORT", brackets for IPv4 too.
			host, port, ok := strings.Cut(strings.TrimPrefix(value, "["), "]:")
			a, err := netip.ParseAddr(host)
			p, perr := strconv.ParseUint(port, 10, 16)
			if !ok || err != nil || perr != nil {
				return fmt.Errorf("checker destination %q", l)
			}
			d.w.add("%s dest = %s", d.checker, netip.AddrPortFrom(a, uint16(p)))
		case "Timeout":
			d.w.add("%s connect_timeout = %s", d.checker, seconds(value))
		}
	case indent == 7 && strings.HasPrefix(d.sub, "url "):
		d.w.add("%s %s codes %s", d.checker, d.sub, key)
	}
	return nil
}

// mergeCodes joins a URL's status code lines into one fact.
func mergeCodes(w *factWriter, err error) error {
	merged := map[string][]string{}
	var order []string
	var rest []string
	for _, l := range w.out {
		if i := strings.Index(l, " codes "); i >= 0 && strings.Contains(l, " url ") {
			k := l[:i]
			if _, ok := merged[k]; !ok {
				order = append(order, k)
			}
			merged[k] = append(merged[k], l[i+7:])
			continue
		}
		rest = append(rest, l)
	}
	for _, k := range order {
		rest = append(rest, k+" codes "+strings.Join(normalizeCodes(merged[k]), ","))
	}
	w.out = rest
	return err
}

func seconds(s string) string {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return s
	}
	return (time.Duration(f*1e6) * time.Microsecond).String()
}

func usec(s string) uint64 {
	v, _ := strconv.ParseUint(strings.TrimSuffix(s, " us"), 10, 64)
	return v
}
