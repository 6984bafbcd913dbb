//go:build linux

package check

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/lvslab/lvslab/harness/keepalived/conf"
)

// The agreement checks compare what two directors' files say where a
// pair must agree: keepalived -t reads one file on one machine and
// cannot see the other. Each names the lines of both files.

// agreement runs every agreement check of a pair.
func agreement(a, b *Director) []Result {
	var out []Result
	out = append(out, agreeInstances(a, b)...)
	out = append(out, agreeSyncDaemon(a, b))
	out = append(out, agreeServices(a, b))
	return out
}

// agreeResult is a result of the agreement group: a pass, or a failure
// naming each difference.
func agreeResult(id, title string, diffs []string, where []Pos) Result {
	r := Result{ID: "agreement/" + id, Group: "agreement", Title: title, Where: where, Bound: "the same in both files", Status: Pass}
	if len(diffs) > 0 {
		r.Status, r.Reason, r.Measured = Fail, strings.Join(diffs, "; "), fmt.Sprintf("%d difference(s)", len(diffs))
	} else {
		r.Measured = "the same"
	}
	return r
}

func agreeInstances(a, b *Director) []Result {
	var out []Result
	names := map[string]bool{}
	for _, f := range []*conf.File{a.Conf, b.Conf} {
		for _, in := range f.Instances {
			names[in.Name] = true
		}
	}
	for _, name := range sortedKeys(names) {
		ia, oka := instance(a.Conf, name)
		ib, okb := instance(b.Conf, name)
		id := "instance/" + name
		switch {
		case !oka:
			out = append(out, agreeResult(id, "vrrp_instance "+name+" is in both files", []string{fmt.Sprintf("%s has no vrrp_instance %s", a.Name, name)}, []Pos{posOf(ib.Pos)}))
			continue
		case !okb:
			out = append(out, agreeResult(id, "vrrp_instance "+name+" is in both files", []string{fmt.Sprintf("%s has no vrrp_instance %s", b.Name, name)}, []Pos{posOf(ia.Pos)}))
			continue
		}
		var diffs []string
		var where []Pos
		differ := func(what string, x, y any, px, py conf.Pos) {
			if fmt.Sprint(x) != fmt.Sprint(y) {
				diffs = append(diffs, fmt.Sprintf("%s: %v in %s, %v in %s", what, x, a.Name, y, b.Name))
				where = append(where, nonZero(posOf(px), posOf(ia.Pos)), nonZero(posOf(py), posOf(ib.Pos)))
			}
		}
		differ("virtual_router_id", ia.VRID.Value, ib.VRID.Value, ia.VRID.Pos, ib.VRID.Pos)
		differ("advert_int", advert(ia), advert(ib), ia.AdvertInt.Pos, ib.AdvertInt.Pos)
		differ("version", ia.Version.Value, ib.Version.Value, ia.Version.Pos, ib.Version.Pos)
		differ("auth_type", ia.Auth.Type.Value, ib.Auth.Type.Value, ia.Auth.Type.Pos, ib.Auth.Type.Pos)
		differ("auth_pass", ia.Auth.Pass.Value, ib.Auth.Pass.Value, ia.Auth.Pass.Pos, ib.Auth.Pass.Pos)
		differ("virtual_ipaddress", vipSet(ia), vipSet(ib), firstVIP(ia), firstVIP(ib))
		differ("nopreempt", ia.NoPreempt.Value, ib.NoPreempt.Value, ia.NoPreempt.Pos, ib.NoPreempt.Pos)
		if ia.UnicastSrcIP.Set || ib.UnicastSrcIP.Set || len(ia.UnicastPeers) > 0 || len(ib.UnicastPeers) > 0 {
			if !peersOf(ia, ib.UnicastSrcIP.Value) || !peersOf(ib, ia.UnicastSrcIP.Value) {
				diffs = append(diffs, fmt.Sprintf("unicast: %s's peers %v do not name %s's unicast_src_ip %v, or the other way round",
					a.Name, peerAddrs(ia), b.Name, ib.UnicastSrcIP.Value))
				where = append(where, posOf(ia.Pos), posOf(ib.Pos))
			}
		}
		if len(diffs) == 0 {
			where = []Pos{posOf(ia.Pos), posOf(ib.Pos)}
		}
		out = append(out, agreeResult(id, "vrrp_instance "+name+": VRID, advert, version, authentication, VIPs, peers", diffs, where))
	}
	return out
}

func nonZero(p, fallback Pos) Pos {
	if p.Line == 0 {
		return fallback
	}
	return p
}

func instance(f *conf.File, name string) (conf.Instance, bool) {
	i := slices.IndexFunc(f.Instances, func(in conf.Instance) bool { return in.Name == name })
	if i < 0 {
		return conf.Instance{}, false
	}
	return f.Instances[i], true
}

func advert(in conf.Instance) time.Duration {
	if in.AdvertInt.Set {
		return in.AdvertInt.Value
	}
	return time.Second
}

func vipSet(in conf.Instance) string {
	var s []string
	for _, v := range in.VIPs {
		s = append(s, v.Prefix.String()+" "+v.Dev)
	}
	slices.Sort(s)
	return "[" + strings.Join(s, ", ") + "]"
}

func firstVIP(in conf.Instance) conf.Pos {
	if len(in.VIPs) > 0 {
		return in.VIPs[0].Pos
	}
	return in.Pos
}

func peersOf(in conf.Instance, a netip.Addr) bool {
	if !a.IsValid() {
		return len(in.UnicastPeers) == 0
	}
	return slices.ContainsFunc(in.UnicastPeers, func(p conf.Peer) bool { return p.Addr == a })
}

func peerAddrs(in conf.Instance) []netip.Addr {
	var out []netip.Addr
	for _, p := range in.UnicastPeers {
		out = append(out, p.Addr)
	}
	return out
}

func agreeSyncDaemon(a, b *Director) Result {
	sa, sb := a.Conf.Global.SyncDaemon, b.Conf.Global.SyncDaemon
	var diffs []string
	var where []Pos
	switch {
	case sa == nil && sb == nil:
	case sa == nil || sb == nil:
		with, without := a, b
		pos := sa
		if sa == nil {
			with, without, pos = b, a, sb
		}
		diffs = append(diffs, fmt.Sprintf("%s runs lvs_sync_daemon, %s does not: its connections are not there after a failover", with.Name, without.Name))
		where = append(where, posOf(pos.Pos))
	case sa.ID.Value != sb.ID.Value || sa.Port.Value != sb.Port.Value || sa.Group.Value != sb.Group.Value:
		diffs = append(diffs, fmt.Sprintf("lvs_sync_daemon: id %d, port %d, group %v in %s; id %d, port %d, group %v in %s",
			sa.ID.Value, sa.Port.Value, sa.Group.Value, a.Name, sb.ID.Value, sb.Port.Value, sb.Group.Value, b.Name))
		where = append(where, posOf(sa.Pos), posOf(sb.Pos))
	}
	return agreeResult("sync-daemon", "lvs_sync_daemon runs on both directors with the same id", diffs, where)
}

func agreeServices(a, b *Director) Result {
	ka, kb := serviceKeys(servicesOfConf(a.Conf)), serviceKeys(servicesOfConf(b.Conf))
	var diffs []string
	var where []Pos
	for k, pa := range ka {
		if _, ok := kb[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s has %s, %s does not", a.Name, k, b.Name))
			where = append(where, pa)
		}
	}
	for k, pb := range kb {
		if _, ok := ka[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s has %s, %s does not", b.Name, k, a.Name))
			where = append(where, pb)
		}
	}
	slices.Sort(diffs)
	return agreeResult("services", "the virtual services, their schedulers and real servers", diffs, where)
}

// serviceKeys describe each service and real server in one line, so two
// files' sets compare.
func serviceKeys(services []Service) map[string]Pos {
	out := map[string]Pos{}
	for _, s := range services {
		head := fmt.Sprintf("%s (%s, persistence %s)", s.Key, s.Scheduler, s.Persistence)
		out[head] = s.Pos
		for _, r := range s.Reals {
			out[fmt.Sprintf("%s real server %s weight %d %s", s.Key, netip.AddrPortFrom(r.Addr, r.Port), r.Weight, r.Method)] = r.Pos
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
