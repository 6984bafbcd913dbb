//go:build linux

package check

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
)

// CaptureScript is the script an operator runs on each director to give
// the lab what keepalived.conf does not say (capture.sh).
//
//go:embed capture.sh
var CaptureScript string

// maxCaptureFile bounds each file of a capture: a director's interfaces,
// routes and rules, not a routing table of the Internet.
const maxCaptureFile = 8 << 20

// Machine is one director as the capture script saw it.
type Machine struct {
	Name       string
	Dir        string
	Interfaces []Interface
	Routes     []Route
	// Sysctls are the net.ipv4.vs.*, net.ipv4.conf.* and forwarding
	// settings, by full name.
	Sysctls map[string]string
	// NFT is `nft list ruleset`, IPTablesMangle `iptables-save -t mangle`
	// (the rules that may set fwmarks), IPVS `ipvsadm -S -n`; empty when
	// the director had none.
	NFT, IPTablesMangle, IPVS string
	Kernel, Keepalived        string
}

// Interface is one link of a captured director.
type Interface struct {
	Name string
	// Kind is the link's kind (vlan, bond, bridge…; "" for a plain one).
	Kind  string
	MTU   int
	Up    bool
	Addrs []netip.Prefix
}

// Route is one route of a captured director (unicast routes of every
// table but local).
type Route struct {
	// Dst is the zero Prefix for a default route.
	Dst   netip.Prefix
	Via   netip.Addr
	Dev   string
	Table string
	Type  string
}

// ReadCapture reads the capture of each named director from dir/NAME, as
// the capture script writes it, and names what is missing.
func ReadCapture(dir string, names []string) (map[string]*Machine, error) {
	out := map[string]*Machine{}
	var errs []error
	for _, name := range names {
		m, err := readMachine(filepath.Join(dir, name), name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out[name] = m
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("capture %s (run lvslab check --capture-script on each director: sh capture.sh %s/NAME):\n%w",
			dir, dir, errors.Join(errs...))
	}
	return out, nil
}

func readMachine(dir, name string) (*Machine, error) {
	m := &Machine{Name: name, Dir: dir, Sysctls: map[string]string{}}
	var links []ipLink
	if err := readJSON(dir, "link.json", &links); err != nil {
		return nil, err
	}
	var addrs []ipAddr
	if err := readJSON(dir, "addr.json", &addrs); err != nil {
		return nil, err
	}
	kinds := map[string]string{}
	for _, l := range links {
		kinds[l.IfName] = l.LinkInfo.InfoKind
	}
	for _, a := range addrs {
		if a.IfName == "" || a.IfName == "lo" {
			continue
		}
		it := Interface{Name: a.IfName, Kind: kinds[a.IfName], MTU: a.MTU, Up: slices.Contains(a.Flags, "UP")}
		for _, info := range a.AddrInfo {
			addr, err := netip.ParseAddr(info.Local)
			if err != nil || info.Scope == "link" {
				continue
			}
			it.Addrs = append(it.Addrs, netip.PrefixFrom(addr, info.PrefixLen))
		}
		m.Interfaces = append(m.Interfaces, it)
	}
	for _, file := range []string{"route.json", "route6.json"} {
		var routes []ipRoute
		if err := readJSON(dir, file, &routes); err != nil {
			if file == "route6.json" && errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, err
		}
		for _, r := range routes {
			if rt, ok := r.route(); ok {
				m.Routes = append(m.Routes, rt)
			}
		}
	}
	text := func(file string) (string, error) {
		s, err := readSmall(filepath.Join(dir, file))
		if errors.Is(err, fs.ErrNotExist) {
			return "", nil
		}
		return s, err
	}
	sysctls, err := text("sysctl.txt")
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(sysctls, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			m.Sysctls[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	for file, into := range map[string]*string{"nft.txt": &m.NFT, "iptables-mangle.txt": &m.IPTablesMangle,
		"ipvsadm.txt": &m.IPVS, "kernel.txt": &m.Kernel, "keepalived.txt": &m.Keepalived} {
		if *into, err = text(file); err != nil {
			return nil, err
		}
		*into = strings.TrimSpace(*into)
	}
	if len(m.Interfaces) == 0 {
		return nil, fmt.Errorf("%s: no interface with an address in addr.json: was it captured on the director?", dir)
	}
	return m, nil
}

// The JSON of iproute2 (ip -j), only the fields read.
type ipLink struct {
	IfName   string `json:"ifname"`
	LinkInfo struct {
		InfoKind string `json:"info_kind"`
	} `json:"linkinfo"`
}

type ipAddr struct {
	IfName   string   `json:"ifname"`
	MTU      int      `json:"mtu"`
	Flags    []string `json:"flags"`
	AddrInfo []struct {
		Family    string `json:"family"`
		Local     string `json:"local"`
		PrefixLen int    `json:"prefixlen"`
		Scope     string `json:"scope"`
	} `json:"addr_info"`
}

type ipRoute struct {
	Type    string `json:"type"`
	Dst     string `json:"dst"`
	Gateway string `json:"gateway"`
	Dev     string `json:"dev"`
	Table   string `json:"table"`
}

func (r ipRoute) route() (Route, bool) {
	if r.Table == "local" || (r.Type != "" && r.Type != "unicast" && r.Type != "blackhole" && r.Type != "unreachable" && r.Type != "prohibit") {
		return Route{}, false
	}
	rt := Route{Dev: r.Dev, Table: r.Table, Type: r.Type}
	if r.Table == "" {
		rt.Table = "main"
	}
	if r.Dst != "default" {
		p, err := netip.ParsePrefix(r.Dst)
		if err != nil {
			a, err := netip.ParseAddr(r.Dst)
			if err != nil {
				return Route{}, false
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		rt.Dst = p
	}
	if r.Gateway != "" {
		rt.Via, _ = netip.ParseAddr(r.Gateway)
	}
	return rt, true
}

func readJSON(dir, file string, into any) error {
	s, err := readSmall(filepath.Join(dir, file))
	if err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(s), into); err != nil {
		return fmt.Errorf("%s: not the JSON of ip -j: %w", filepath.Join(dir, file), err)
	}
	return nil
}

func readSmall(path string) (string, error) {
	data, err := readBounded(path, maxCaptureFile, "capture one director with the capture script")
	return string(data), err
}

// Connected is the interface whose subnet holds a, if any.
func (m *Machine) Connected(a netip.Addr) (Interface, netip.Prefix, bool) {
	for _, it := range m.Interfaces {
		for _, p := range it.Addrs {
			if p.Masked().Contains(a) && p.Bits() < a.BitLen() {
				return it, p, true
			}
		}
	}
	return Interface{}, netip.Prefix{}, false
}

// RouteTo is the most specific route of the main table to a, if any.
func (m *Machine) RouteTo(a netip.Addr) (Route, bool) {
	best, found := Route{}, false
	for _, r := range m.Routes {
		if r.Table != "main" || (r.Dst.IsValid() && !r.Dst.Contains(a)) {
			continue
		}
		if !r.Dst.IsValid() && (r.Via.IsValid() && r.Via.Is4() != a.Is4()) {
			continue
		}
		if !found || r.Dst.Bits() > best.Dst.Bits() {
			best, found = r, true
		}
	}
	return best, found
}
