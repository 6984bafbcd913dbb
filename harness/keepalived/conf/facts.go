package conf

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Facts are what keepalived's own dump of its configuration (SIGUSR1's
// keepalived.data and keepalived_check.data, vrrp/vrrp_data.c dump_vrrp,
// check/check_data.c dump_vs and dump_rs, check/check_api.c dump_checker)
// shows of the settings a lab rests on. The reader's File gives the same
// facts (File.Facts), so that the two can be compared line by line.
//
// Each fact is one line "WHAT = VALUE", e.g.
// "instance VI_1 priority = 150" or
// "vs [203.0.113.10]:tcp:80 rs [198.51.100.11]:tcp:8080 check 1 delay_loop = 6s".
type Facts []string

// Diff lists the facts only a has ("- …") and only b has ("+ …").
func (a Facts) Diff(b Facts) []string {
	var out []string
	for _, l := range a {
		if !slices.Contains(b, l) {
			out = append(out, "- "+l)
		}
	}
	for _, l := range b {
		if !slices.Contains(a, l) {
			out = append(out, "+ "+l)
		}
	}
	return out
}

type factWriter struct{ out Facts }

func (w *factWriter) add(format string, args ...any) {
	w.out = append(w.out, fmt.Sprintf(format, args...))
}

func (w *factWriter) facts() Facts {
	slices.Sort(w.out)
	return slices.Compact(w.out)
}

// Facts are the file's facts as keepalived's dump would show them, with
// the corrections keepalived makes once it has read everything (a VRRPv2
// advert interval rounded to seconds, nopreempt dropped from a MASTER, a
// DR or TUN real server given its virtual server's port). Call Defaults
// first.
func (f *File) Facts() Facts {
	var w factWriter
	g := f.Global
	if g.RouterID.Set {
		w.add("router_id = %s", g.RouterID.Value)
	}
	if sd := g.SyncDaemon; sd != nil {
		w.add("lvs_sync_daemon interface = %s", sd.Interface)
		if sd.Instance != "" {
			w.add("lvs_sync_daemon instance = %s", sd.Instance)
		}
		// The dump shows the syncid as configured (0 when unset: the
		// instance's VRID is taken when the daemon starts).
		id := 0
		if sd.ID.Set {
			id = sd.ID.Value
		}
		w.add("lvs_sync_daemon syncid = %d", id)
	}
	for _, v := range f.Instances {
		instanceFacts(&w, v)
	}
	for _, sg := range f.SyncGroups {
		for _, m := range sg.Members {
			w.add("sync_group %s member %s", sg.Name, m)
		}
	}
	for _, vs := range f.VirtualServers {
		proto := strings.ToLower(vs.Protocol.Value)
		if vs.FWMark != nil || (vs.Group != "" && !f.groupHasAddresses(vs.Group)) {
			proto = "none"
		}
		p := virtualServerFacts(&w, vs, proto)
		for _, rs := range vs.Reals {
			realServerFacts(&w, p, vs, rs, proto)
		}
	}
	return w.facts()
}

func instanceFacts(w *factWriter, v Instance) {
	p := "instance " + v.Name
	iface := v.Interface.Value
	devOf := func(dev string) string { return dev }
	if v.UseVMAC.Value {
		// The instance runs on its VMAC interface, "vrrp.VRID"
		// unless named, and so do the VIPs of its interface.
		vmac := v.VMACInterface.Value
		if vmac == "" {
			vmac = fmt.Sprintf("vrrp.%d", v.VRID.Value)
		}
		base := iface
		iface = vmac
		devOf = func(dev string) string {
			if dev == base {
				return vmac + "@" + base
			}
			return dev
		}
	}
	w.add("%s interface = %s", p, iface)
	w.add("%s vrid = %d", p, v.VRID.Value)
	w.add("%s priority = %d", p, v.Priority.Value)
	w.add("%s version = %d", p, v.Version.Value)
	adv := v.AdvertInt.Value
	if v.Version.Value == 2 {
		// vrrp_complete_instance rounds a VRRPv2 interval to seconds.
		adv = max(time.Second, (adv+time.Second/2)/time.Second*time.Second)
	} else {
		adv = adv / (10 * time.Millisecond) * (10 * time.Millisecond)
	}
	w.add("%s advert_int = %s", p, adv)
	preempt := !v.NoPreempt.Value || v.State.Value == "MASTER" || v.Priority.Value == 255
	w.add("%s preempt = %v", p, preempt)
	if v.PreemptDelay.Value > 0 && preempt && v.State.Value != "MASTER" && !v.Strict.Value {
		w.add("%s preempt_delay = %s", p, v.PreemptDelay.Value)
	}
	for _, a := range v.VIPs {
		w.add("%s vip %s dev %s", p, a.Prefix, devOf(a.Dev))
	}
	src := v.UnicastSrcIP
	if !src.Set {
		src = v.McastSrcIP
	}
	if src.Set {
		w.add("%s src_ip = %s", p, src.Value)
	}
	for _, peer := range v.UnicastPeers {
		w.add("%s unicast_peer %s min_ttl %d max_ttl %d", p, peer.Addr, peer.MinTTL, peer.MaxTTL)
	}
	for _, t := range v.TrackScripts {
		w.add("%s track_script %s weight %d", p, t.Name, t.Weight.Value)
	}
}

// virtualServerFacts adds a virtual server's facts and returns the prefix
// of its facts' keys.
func virtualServerFacts(w *factWriter, vs VirtualServer, proto string) string {
	key := vsKey(vs, proto)
	p := "vs " + key
	w.add("%s protocol = %s", p, proto)
	w.add("%s scheduler = %s", p, vs.Scheduler.Value)
	w.add("%s method = %s", p, vs.Method.Value)
	if vs.Persistence.Value > 0 {
		w.add("%s persistence = %d", p, int(vs.Persistence.Value/time.Second))
	}
	w.add("%s quorum = %d hysteresis = %d", p, vs.Quorum.Value, vs.Hysteresis.Value)
	w.add("%s delay_loop = %s", p, vs.DelayLoop.Value)
	w.add("%s connect_timeout = %s", p, vs.ConnectTimeout.Value)
	w.add("%s inhibit_on_failure = %v", p, vs.Inhibit.Value)
	if vs.HASuspend.Value {
		w.add("%s ha_suspend", p)
	}
	if s := vs.SorryServer; s != nil {
		w.add("%s sorry_server = %s method %s inhibit %v", p, trio(s.Addr, proto), s.Method.Value, s.Inhibit.Value)
	}
	return p
}

func realServerFacts(w *factWriter, p string, vs VirtualServer, rs RealServer, proto string) {
	addr := rs.Addr
	if rs.Method.Value != "NAT" {
		// validate_check_config: a DR or TUN real server takes
		// its virtual server's port; of a firewall mark, none.
		port := uint16(0)
		if vs.Addr.IsValid() {
			port = vs.Addr.Port()
		}
		if vs.FWMark == nil && vs.Group == "" || vs.FWMark != nil {
			addr = netip.AddrPortFrom(addr.Addr(), port)
		}
	}
	rp := p + " rs " + trio(addr, proto)
	w.add("%s weight = %d", rp, rs.Weight.Value)
	w.add("%s method = %s", rp, rs.Method.Value)
	w.add("%s inhibit_on_failure = %v", rp, rs.Inhibit.Value)
	n := 0
	for _, ch := range rs.Checkers {
		if ch.Dropped {
			continue
		}
		n++
		cp := fmt.Sprintf("%s check %d", rp, n)
		w.add("%s kind = %s", cp, ch.Kind)
		if ch.Kind == "FILE_CHECK" || ch.Kind == "BFD_CHECK" {
			continue
		}
		w.add("%s delay_loop = %s", cp, ch.DelayLoop.Value)
		w.add("%s warmup = %s", cp, ch.Warmup.Value)
		w.add("%s retry = %d", cp, ch.Retry.Value)
		if ch.Retry.Value > 0 {
			w.add("%s delay_before_retry = %s", cp, ch.DelayBeforeRetry.Value)
		}
		if ch.Kind != "MISC_CHECK" {
			w.add("%s connect_timeout = %s", cp, ch.ConnectTimeout.Value)
			w.add("%s dest = %s", cp, netip.AddrPortFrom(ch.ConnectIP.Value, uint16(ch.ConnectPort.Value)))
		}
		for _, u := range ch.URLs {
			w.add("%s url %s codes %s", cp, u.Path.Value, codes(u.StatusCodes))
		}
	}
}

// groupHasAddresses says whether a virtual_server_group has address
// entries (then its protocol counts, as for an address).
func (f *File) groupHasAddresses(name string) bool {
	for _, g := range f.Groups {
		if g.Name == name {
			for _, e := range g.Entries {
				if e.FWMark == nil {
					return true
				}
			}
		}
	}
	return false
}

func vsKey(vs VirtualServer, proto string) string {
	switch {
	case vs.Group != "":
		port := 0
		if vs.Addr.IsValid() {
			port = int(vs.Addr.Port())
		}
		return fmt.Sprintf("[%s]:%d", vs.Group, port)
	case vs.FWMark != nil:
		return fmt.Sprintf("FWM %d", *vs.FWMark)
	}
	return trio(vs.Addr, proto)
}

// trio is inet_sockaddrtotrio: "[ADDR]:PROTO:PORT".
func trio(a netip.AddrPort, proto string) string {
	return fmt.Sprintf("[%s]:%s:%d", a.Addr(), proto, a.Port())
}

func codes(rs []StatusRange) string {
	var out []string
	for _, r := range rs {
		if r.Min == r.Max {
			out = append(out, strconv.Itoa(r.Min))
		} else {
			out = append(out, fmt.Sprintf("%d-%d", r.Min, r.Max))
		}
	}
	return strings.Join(normalizeCodes(out), ",")
}

// normalizeCodes merges status code ranges as keepalived's bit array
// does (dump_url prints runs of set bits).
func normalizeCodes(in []string) []string {
	var set [600]bool
	for _, s := range in {
		lo, hi := s, s
		if i := strings.IndexByte(s, '-'); i >= 0 {
			lo, hi = s[:i], s[i+1:]
		}
		a, _ := strconv.Atoi(lo)
		b, _ := strconv.Atoi(hi)
		for c := a; c <= b && c < len(set); c++ {
			set[c] = true
		}
	}
	var out []string
	for c := 100; c < len(set); c++ {
		if !set[c] {
			continue
		}
		e := c
		for e+1 < len(set) && set[e+1] {
			e++
		}
		if e == c {
			out = append(out, strconv.Itoa(c))
		} else {
			out = append(out, fmt.Sprintf("%d-%d", c, e))
		}
		c = e
	}
	return out
}
