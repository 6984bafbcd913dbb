package conf

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// VersionDefaults are the values a keepalived version uses for what a
// file leaves unset. A row per version the reader knows; a version whose
// defaults change gets a row of its own.
type VersionDefaults struct {
	Version string

	VRRPVersion      int
	Priority         int // and 255 for "state MASTER" without a priority
	AdvertInt        time.Duration
	GARPMasterDelay  time.Duration
	GARPMasterRepeat int
	GARPRefresh      time.Duration
	GARPRefreshRep   int
	DownTimerAdverts int
	McastGroup4      netip.Addr
	McastGroup6      netip.Addr

	ScriptInterval time.Duration
	ScriptWeight   int
	ScriptRise     int
	ScriptFall     int
	ProcessQuorum  int

	Protocol       string // of an address virtual server without one
	Scheduler      string
	Method         string
	DelayLoop      time.Duration
	ConnectTimeout time.Duration
	Quorum         int
	VSWeight       int
	Persistence    time.Duration // persistence_timeout without a value
	// Retry and DelayBeforeRetry per checker kind ("" for the rest).
	Retry            map[string]int
	DelayBeforeRetry map[string]time.Duration
	StatusCodes      []StatusRange
	HTTPProtocol     string
	HeloName         string
}

// keepaliveds are the rows, oldest first. 2.2.7: vrrp/vrrp_data.c
// alloc_vrrp, vrrp/vrrp.c vrrp_complete_instance, core/global_data.c,
// vrrp/vrrp_track.h, check/check_data.c alloc_vs and
// validate_check_config, check/check_api.c queue_checker and the
// checkers' handlers (HTTP_GET/SSL_GET delay_before_retry 3 s,
// check_http.c; MISC_CHECK retry 0, check_misc.c; DNS_CHECK retry 3 and
// delay_before_retry = delay_loop, check_dns.c).
var keepaliveds = []VersionDefaults{{
	Version:          "2.2.7",
	VRRPVersion:      2,
	Priority:         100,
	AdvertInt:        time.Second,
	GARPMasterDelay:  5 * time.Second,
	GARPMasterRepeat: 5,
	GARPRefresh:      0,
	GARPRefreshRep:   1,
	DownTimerAdverts: 3,
	McastGroup4:      netip.MustParseAddr("224.0.0.18"),
	McastGroup6:      netip.MustParseAddr("ff02::12"),
	ScriptInterval:   time.Second,
	ScriptWeight:     0,
	ScriptRise:       1,
	ScriptFall:       1,
	ProcessQuorum:    1,
	Protocol:         "UDP",
	Scheduler:        "wlc",
	Method:           "NAT",
	DelayLoop:        60 * time.Second,
	ConnectTimeout:   5 * time.Second,
	Quorum:           1,
	VSWeight:         1,
	Persistence:      360 * time.Second,
	Retry:            map[string]int{"": 1, "MISC_CHECK": 0, "DNS_CHECK": 3},
	DelayBeforeRetry: map[string]time.Duration{"": time.Second, "HTTP_GET": 3 * time.Second, "SSL_GET": 3 * time.Second, "DNS_CHECK": -1},
	StatusCodes:      []StatusRange{{Min: 200, Max: 299}},
	HTTPProtocol:     "1.0",
	HeloName:         "smtpchecker.keepalived.org",
}}

// KnownVersions are the keepalived versions with a row of defaults.
func KnownVersions() []string {
	var out []string
	for _, k := range keepaliveds {
		out = append(out, k.Version)
	}
	return out
}

// DefaultsFor returns the row for a keepalived version ("2.2.7",
// "v2.2.7", "2.2.7-1+b2"): the version itself, or the nearest known one
// (the newest not newer, else the oldest), with a note saying so.
func DefaultsFor(version string) (VersionDefaults, string) {
	want, ok := parseVersion(version)
	if !ok {
		d := keepaliveds[len(keepaliveds)-1]
		return d, fmt.Sprintf("keepalived version %q is not a version number: using the defaults of %s", version, d.Version)
	}
	best := -1
	for i, k := range keepaliveds {
		v, _ := parseVersion(k.Version)
		if slices.Compare(v, want) == 0 {
			return k, ""
		}
		if slices.Compare(v, want) < 0 {
			best = i
		}
	}
	if best < 0 {
		best = 0
	}
	d := keepaliveds[best]
	return d, fmt.Sprintf("the reader knows no defaults of keepalived %s: using those of %s, the nearest it knows", version, d.Version)
}

func parseVersion(s string) ([]int, bool) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "v")
	if i := strings.IndexAny(s, "-+~ "); i >= 0 {
		s = s[:i]
	}
	var out []int
	for _, p := range strings.Split(s, ".") {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return nil, false
		}
		out = append(out, n)
	}
	return out, len(out) > 0
}

// Defaults fills every setting the file left unset with the value the
// given keepalived version uses, and says where it came from (Default).
// It returns the version of the row it used and a note when that is not
// the version asked for.
func Defaults(f *File, version string) (used, note string) {
	d, note := DefaultsFor(version)
	of := "default of keepalived " + d.Version
	g := &f.Global
	def(&g.VRRPVersion, d.VRRPVersion, of)
	def(&g.GARPMasterDelay, d.GARPMasterDelay, of)
	def(&g.GARPMasterRepeat, d.GARPMasterRepeat, of)
	def(&g.GARPMasterRefresh, d.GARPRefresh, of)
	def(&g.GARPRefreshRepeat, d.GARPRefreshRep, of)
	inherit(&g.GARPLowerPrioDelay, g.GARPMasterDelay, "vrrp_garp_master_delay")
	inherit(&g.GARPLowerPrioRepeat, g.GARPMasterRepeat, "vrrp_garp_master_repeat")
	def(&g.DownTimerAdverts, d.DownTimerAdverts, of)
	def(&g.LowerPrioNoAdvert, g.VRRPStrict.Value, of+" (on in strict mode)")
	def(&g.HigherPrioSendAdvert, false, of)
	def(&g.McastGroup4, d.McastGroup4, of)
	def(&g.McastGroup6, d.McastGroup6, of)
	if g.RouterID.Default == "" && !g.RouterID.Set {
		g.RouterID.Default = "the host's name (keepalived's default)"
	}
	if sd := g.SyncDaemon; sd != nil && !sd.ID.Set {
		for _, v := range f.Instances {
			if v.Name == sd.Instance {
				sd.ID = Setting[int]{Value: v.VRID.Value, Pos: v.VRID.Pos, Default: "the VRID of " + v.Name}
			}
		}
		if sd.Instance == "" {
			sd.ID.Default = of
		}
	}

	for i := range f.Scripts {
		s := &f.Scripts[i]
		def(&s.Interval, d.ScriptInterval, of)
		inherit(&s.Timeout, s.Interval, "its interval")
		def(&s.Weight, d.ScriptWeight, of)
		def(&s.Rise, d.ScriptRise, of)
		def(&s.Fall, d.ScriptFall, of)
	}
	for i := range f.Processes {
		p := &f.Processes[i]
		def(&p.Weight, 0, of)
		def(&p.Quorum, d.ProcessQuorum, of)
	}

	for i := range f.Instances {
		defaultInstance(&f.Instances[i], g, d, of)
	}
	for i := range f.VirtualServers {
		vs := &f.VirtualServers[i]
		defaultVirtualServer(vs, d, of)
		for j := range vs.Reals {
			rs := &vs.Reals[j]
			defaultRealServer(rs, vs)
			for k := range rs.Checkers {
				defaultChecker(&rs.Checkers[k], rs, d, of)
			}
		}
	}
	return d.Version, note
}

// defaultInstance fills a VRRP instance's unset settings, from
// global_defs where keepalived takes them from there.
func defaultInstance(v *Instance, g *Global, d VersionDefaults, of string) {
	switch {
	case v.Priority.Set:
	case v.State.Value == "MASTER":
		def(&v.Priority, 255, of+" for state MASTER")
	default:
		def(&v.Priority, d.Priority, of)
	}
	if !v.State.Set {
		st := "BACKUP"
		if v.Priority.Value == 255 {
			st = "MASTER"
		}
		def(&v.State, st, of)
	}
	def(&v.AdvertInt, d.AdvertInt, of)
	if !v.Version.Set {
		if len(v.VIPs) > 0 && v.VIPs[0].Prefix.Addr().Is6() {
			def(&v.Version, 3, of+" for IPv6")
		} else {
			inherit(&v.Version, g.VRRPVersion, "vrrp_version")
		}
	}
	def(&v.NoPreempt, false, of)
	def(&v.PreemptDelay, 0, of)
	inherit(&v.GARPMasterDelay, g.GARPMasterDelay, "vrrp_garp_master_delay")
	inherit(&v.GARPMasterRepeat, g.GARPMasterRepeat, "vrrp_garp_master_repeat")
	inherit(&v.DownTimerAdverts, g.DownTimerAdverts, "vrrp_down_timer_adverts")
	strict := v.Strict.Value || (!v.Strict.Set && g.VRRPStrict.Value)
	def(&v.Strict, g.VRRPStrict.Value, "vrrp_strict")
	def(&v.Accept, !strict || v.Priority.Value == 255, of+" (off in strict mode unless the address owner)")
	inherit(&v.LowerPrioNoAdvert, g.LowerPrioNoAdvert, "vrrp_lower_prio_no_advert")
	inherit(&v.HigherPrioSendAdvert, g.HigherPrioSendAdvert, "vrrp_higher_prio_send_advert")
	for j := range v.VIPs {
		if v.VIPs[j].Dev == "" {
			v.VIPs[j].Dev = v.Interface.Value
		}
	}
	for j := range v.TrackInterfaces {
		def(&v.TrackInterfaces[j].Weight, 0, of+" (down = FAULT)")
	}
}

func defaultVirtualServer(vs *VirtualServer, d VersionDefaults, of string) {
	if vs.FWMark == nil && vs.Group == "" {
		def(&vs.Protocol, d.Protocol, of+" (keepalived reports it)")
	}
	def(&vs.Scheduler, d.Scheduler, of+" (keepalived reports it)")
	def(&vs.Method, d.Method, of+" (keepalived reports it)")
	def(&vs.DelayLoop, d.DelayLoop, of)
	def(&vs.ConnectTimeout, d.ConnectTimeout, of)
	def(&vs.Quorum, d.Quorum, of)
	def(&vs.Hysteresis, 0, of)
	def(&vs.Weight, d.VSWeight, of)
	def(&vs.Persistence, 0, of+" (no persistence)")
	def(&vs.Inhibit, false, of)
	def(&vs.Alpha, false, of)
	def(&vs.HASuspend, false, of)
	if vs.SorryServer != nil {
		inherit(&vs.SorryServer.Method, vs.Method, "the virtual server's lb_kind")
		def(&vs.SorryServer.Inhibit, false, of)
	}
}

// defaultRealServer fills a real server's unset settings from its
// virtual server's.
func defaultRealServer(rs *RealServer, vs *VirtualServer) {
	if rs.Addr.Port() == 0 && vs.Addr.IsValid() {
		rs.Addr = netip.AddrPortFrom(rs.Addr.Addr(), vs.Addr.Port())
	}
	inherit(&rs.Weight, vs.Weight, "the virtual server's weight")
	inherit(&rs.Method, vs.Method, "the virtual server's lb_kind")
	if !rs.Method.Set && vs.Method.Value == "TUN" {
		rs.Tunnel = vs.Tunnel
	}
	inherit(&rs.Inhibit, vs.Inhibit, "the virtual server's inhibit_on_failure")
	inherit(&rs.Alpha, vs.Alpha, "the virtual server's alpha")
	inherit(&rs.DelayLoop, vs.DelayLoop, "the virtual server's delay_loop")
	inherit(&rs.ConnectTimeout, vs.ConnectTimeout, "the virtual server's connect_timeout")
	inheritKnown(&rs.Retry, vs.Retry, "the virtual server's retry")
	inheritKnown(&rs.DelayBeforeRetry, vs.DelayBeforeRetry, "the virtual server's delay_before_retry")
	inheritKnown(&rs.Warmup, vs.Warmup, "the virtual server's warmup")
}

func defaultChecker(ch *Checker, rs *RealServer, d VersionDefaults, of string) {
	inherit(&ch.Alpha, rs.Alpha, "the real server's alpha")
	inherit(&ch.ConnectTimeout, rs.ConnectTimeout, "the real server's connect_timeout")
	inherit(&ch.DelayLoop, rs.DelayLoop, "the real server's delay_loop")
	// A real server's retry, warmup and delay_before_retry
	// come first, then the checker kind's own default.
	inheritKnown(&ch.Retry, rs.Retry, "the real server's retry")
	def(&ch.Retry, perKind(d.Retry, ch.Kind), of+" for "+ch.Kind)
	inheritKnown(&ch.Warmup, rs.Warmup, "the real server's warmup")
	inherit(&ch.Warmup, ch.DelayLoop, "its delay_loop")
	inheritKnown(&ch.DelayBeforeRetry, rs.DelayBeforeRetry, "the real server's delay_before_retry")
	if dbr := perKind(d.DelayBeforeRetry, ch.Kind); dbr < 0 {
		inherit(&ch.DelayBeforeRetry, ch.DelayLoop, "its delay_loop ("+of+" for "+ch.Kind+")")
	} else {
		def(&ch.DelayBeforeRetry, dbr, of+" for "+ch.Kind)
	}
	if !ch.ConnectIP.Set {
		ch.ConnectIP.Value = rs.Addr.Addr()
		ch.ConnectIP.Default = "the real server's address"
	}
	if !ch.ConnectPort.Set {
		ch.ConnectPort.Value = int(rs.Addr.Port())
		ch.ConnectPort.Default = "the real server's port"
	}
	switch ch.Kind {
	case "HTTP_GET", "SSL_GET":
		def(&ch.HTTPProtocol, d.HTTPProtocol, of)
		for u := range ch.URLs {
			if len(ch.URLs[u].StatusCodes) == 0 {
				ch.URLs[u].StatusCodes = slices.Clone(d.StatusCodes)
			}
		}
	case "MISC_CHECK":
		inherit(&ch.MiscTimeout, ch.DelayLoop, "its delay_loop")
	case "SMTP_CHECK":
		def(&ch.HeloName, d.HeloName, of)
	}
}

// def fills an unset setting with a default.
func def[T any](s *Setting[T], v T, from string) {
	if s.Set || s.Default != "" {
		return
	}
	s.Value, s.Default = v, from
}

// inherit fills an unset setting from another (set or defaulted) one.
func inherit[T any](s *Setting[T], from Setting[T], name string) {
	if s.Set || s.Default != "" {
		return
	}
	s.Value = from.Value
	switch {
	case from.Set:
		s.Default = fmt.Sprintf("from %s (%s)", name, from.Pos)
	case from.Default != "":
		s.Default = fmt.Sprintf("from %s: %s", name, from.Default)
	}
}

// inheritKnown inherits only a value the file set or a default filled:
// keepalived's "unset" passes through (retry, warmup, delay_before_retry).
func inheritKnown[T any](s *Setting[T], from Setting[T], name string) {
	if from.Set || from.Default != "" {
		inherit(s, from, name)
	}
}

// perKind is a checker kind's value of a table, or the table's default ("").
func perKind[T any](m map[string]T, kind string) T {
	if v, ok := m[kind]; ok {
		return v
	}
	return m[""]
}

// VersionOf reads the version from the first line keepalived -v prints
// ("Keepalived v2.2.7 (01/16,2022)" gives "2.2.7"); "" if it has none.
func VersionOf(line string) string {
	for _, f := range strings.Fields(line) {
		if _, ok := parseVersion(f); ok {
			return strings.TrimPrefix(f, "v")
		}
	}
	return ""
}

// ScriptNaming is the name a keepalived version runs a script's program
// under when the path written leads through a link (lib/notify.c
// check_script_secure): a program that acts on the name it was called by
// does something else under another.
type ScriptNaming int

const (
	// KeepsWrittenName: before 1.3.6; 1.4.0 to 2.0.5, which run the
	// written name in the resolved folder; from 2.3.0, which exec the
	// resolved file with the written path as argv[0].
	KeepsWrittenName ScriptNaming = iota
	// TakesTargetName: 1.3.6 to 1.3.x run the path realpath() gives.
	TakesTargetName
	// KeepsNameIfSameFile: 2.0.6 to 2.2.x run the written name in the
	// resolved folder where that is the same file, else the resolved path.
	KeepsNameIfSameFile
)

// ScriptNamingOf is a keepalived version's ScriptNaming; ok is false for
// a version it cannot read.
func ScriptNamingOf(version string) (naming ScriptNaming, ok bool) {
	v, ok := parseVersion(version)
	switch {
	case !ok:
		return KeepsWrittenName, false
	case slices.Compare(v, []int{1, 3, 6}) < 0, slices.Compare(v, []int{2, 3, 0}) >= 0:
		return KeepsWrittenName, true
	case slices.Compare(v, []int{1, 4, 0}) < 0:
		return TakesTargetName, true
	case slices.Compare(v, []int{2, 0, 6}) < 0:
		return KeepsWrittenName, true
	}
	return KeepsNameIfSameFile, true
}
