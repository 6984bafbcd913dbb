//go:build linux

package check

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Firewall marks: a fwmark service gets its traffic from the operator's
// marking rules, which keepalived.conf does not hold. With a capture that
// has them (`nft list ruleset`), the lab loads them into the director's
// namespace before keepalived starts, reads back where each mark is set
// (`nft -j list ruleset`, the same rules as JSON, libnftables-json(5)),
// and the checks send to those destinations.

// target is one address of a service as the client sends to it.
type target struct {
	proto string // tcp or udp
	addr  netip.AddrPort
	// tls: the real servers answer HTTPS (an SSL_GET checks them, or the
	// serve file says so).
	tls bool
}

func (t target) String() string { return t.proto + " " + t.addr.String() }

// markRule is one rule that sets a mark: on packets to any of addrs (any
// address when empty) and ports (any port when empty) of a protocol.
type markRule struct {
	mark   int
	protos []string
	addrs  []netip.Prefix
	ports  []uint16
}

// nftRules reads the rules of `nft -j list ruleset` that set meta mark
// to a constant, with the destination matches before it. Rules it cannot
// read (a negated match, a mark from a map) are left out.
func nftRules(data []byte) ([]markRule, error) {
	var doc struct {
		Nftables []struct {
			Rule *struct {
				Expr []map[string]json.RawMessage `json:"expr"`
			} `json:"rule"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("read nft -j list ruleset: %w", err)
	}
	var out []markRule
	for _, item := range doc.Nftables {
		if item.Rule == nil {
			continue
		}
		if r, ok := markOf(item.Rule.Expr); ok {
			out = append(out, r)
		}
	}
	return out, nil
}

// nftMatch is a match expression: left op right.
type nftMatch struct {
	Op   string          `json:"op"`
	Left json.RawMessage `json:"left"`
	// Right is an address or port, {"prefix"}, {"range"} or {"set"}.
	Right json.RawMessage `json:"right"`
}

type nftKey struct {
	Payload *struct{ Protocol, Field string } `json:"payload"`
	Meta    *struct{ Key string }             `json:"meta"`
}

func markOf(exprs []map[string]json.RawMessage) (markRule, bool) {
	var r markRule
	set := false
	for _, ex := range exprs {
		if raw, ok := ex["mangle"]; ok {
			var m struct {
				Key   nftKey          `json:"key"`
				Value json.RawMessage `json:"value"`
			}
			if json.Unmarshal(raw, &m) != nil || m.Key.Meta == nil || m.Key.Meta.Key != "mark" {
				continue
			}
			if json.Unmarshal(m.Value, &r.mark) != nil || r.mark == 0 {
				return markRule{}, false
			}
			set = true
			break
		}
		raw, ok := ex["match"]
		if !ok {
			continue
		}
		var m nftMatch
		var left nftKey
		if json.Unmarshal(raw, &m) != nil || json.Unmarshal(m.Left, &left) != nil {
			continue
		}
		if m.Op != "==" && m.Op != "in" {
			return markRule{}, false
		}
		values := nftValues(m.Right)
		switch {
		case left.Payload != nil && left.Payload.Field == "daddr":
			for _, v := range values {
				if p, ok := prefixOf(v); ok {
					r.addrs = append(r.addrs, p)
				}
			}
		case left.Payload != nil && left.Payload.Field == "dport":
			r.protos = appendNew(r.protos, left.Payload.Protocol)
			for _, v := range values {
				var port int
				if json.Unmarshal(v, &port) == nil && port > 0 && port < 1<<16 {
					r.ports = append(r.ports, uint16(port))
				}
			}
		case left.Meta != nil && left.Meta.Key == "l4proto":
			for _, v := range values {
				var p string
				if json.Unmarshal(v, &p) == nil {
					r.protos = appendNew(r.protos, p)
				}
			}
		}
	}
	return r, set
}

// nftValues flattens a match's right side: a value, a set of values, a
// range (its first value: one port of it is enough to send to).
func nftValues(raw json.RawMessage) []json.RawMessage {
	var obj struct {
		Set   []json.RawMessage `json:"set"`
		Range []json.RawMessage `json:"range"`
	}
	if json.Unmarshal(raw, &obj) == nil {
		switch {
		case obj.Set != nil:
			var out []json.RawMessage
			for _, v := range obj.Set {
				out = append(out, nftValues(v)...)
			}
			return out
		case len(obj.Range) == 2:
			return obj.Range[:1]
		}
	}
	return []json.RawMessage{raw}
}

// prefixOf reads an address or {"prefix": {"addr", "len"}}.
func prefixOf(raw json.RawMessage) (netip.Prefix, bool) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		a, err := netip.ParseAddr(s)
		return netip.PrefixFrom(a, a.BitLen()), err == nil
	}
	var p struct {
		Prefix struct {
			Addr string `json:"addr"`
			Len  int    `json:"len"`
		} `json:"prefix"`
	}
	if json.Unmarshal(raw, &p) != nil {
		return netip.Prefix{}, false
	}
	a, err := netip.ParseAddr(p.Prefix.Addr)
	if err != nil {
		return netip.Prefix{}, false
	}
	pfx, err := a.Prefix(p.Prefix.Len)
	return pfx, err == nil
}

func appendNew(list []string, s string) []string {
	if s == "" || slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// markTargets are where the client sends to reach each mark: per rule,
// each address (in a wider prefix, the VIPs it holds, else its first host
// address; with none, the VIPs), each port (with none, 80), each
// protocol (tcp or udp; with none, tcp), at most reachAddrs per mark.
func markTargets(rules []markRule, vips []netip.Addr) map[int][]target {
	out := map[int][]target{}
	for _, r := range rules {
		var addrs []netip.Addr
		for _, p := range r.addrs {
			inside := slices.DeleteFunc(slices.Clone(vips), func(v netip.Addr) bool { return !p.Contains(v) })
			if len(inside) == 0 && p.IsSingleIP() {
				inside = []netip.Addr{p.Addr()}
			} else if len(inside) == 0 {
				inside = []netip.Addr{p.Masked().Addr().Next()}
			}
			addrs = append(addrs, inside...)
		}
		if len(r.addrs) == 0 {
			addrs = vips
		}
		ports := r.ports
		if len(ports) == 0 {
			ports = []uint16{80}
		}
		protos := slices.DeleteFunc(slices.Clone(r.protos), func(p string) bool { return p != "tcp" && p != "udp" })
		if len(protos) == 0 {
			protos = []string{"tcp"}
		}
		for _, a := range addrs {
			for _, port := range ports {
				for _, proto := range protos {
					t := target{proto: proto, addr: netip.AddrPortFrom(a, port)}
					if len(out[r.mark]) < reachAddrs && !slices.Contains(out[r.mark], t) {
						out[r.mark] = append(out[r.mark], t)
					}
				}
			}
		}
	}
	return out
}

// describeMarks says what a capture's rules mark, for the report.
func describeMarks(m map[int][]target) string {
	marks := make([]int, 0, len(m))
	for mark := range m {
		marks = append(marks, mark)
	}
	slices.Sort(marks)
	var parts []string
	for _, mark := range marks {
		var names []string
		for _, t := range m[mark] {
			names = append(names, t.String())
		}
		parts = append(parts, fmt.Sprintf("mark %d: %s", mark, strings.Join(names, ", ")))
	}
	return strings.Join(parts, "; ")
}
