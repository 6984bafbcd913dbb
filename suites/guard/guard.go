// Package guard is what every lvslab suite checks around its specs: that
// it runs as root, and that the host is left exactly as found: no lab
// namespace, no state, no lvslab process, and the root namespace's links,
// addresses, routes and nftables ruleset unchanged. It only reads the root
// namespace, never changes it.
package guard

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/lvslab/lvslab/topology"
	"github.com/vishvananda/netlink"
)

// RequireRoot stops the suite at once, in one line, when not root.
func RequireRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "lvslab suites need root (they build network namespaces): run sudo make test")
		t.FailNow()
	}
}

// Host is a snapshot of what lvslab must never change or leave behind.
type Host struct {
	Links, Addrs, Routes []string
	Ruleset              string
}

// Snapshot reads the root namespace.
func Snapshot() (Host, error) {
	var h Host
	links, err := netlink.LinkList()
	if err != nil {
		return h, fmt.Errorf("list root links: %w", err)
	}
	for _, l := range links {
		a := l.Attrs()
		h.Links = append(h.Links, fmt.Sprintf("%s %s up=%v", a.Name, l.Type(), a.Flags&1 != 0))
	}
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return h, fmt.Errorf("list root addresses: %w", err)
	}
	for _, a := range addrs {
		h.Addrs = append(h.Addrs, fmt.Sprintf("%d %s", a.LinkIndex, a.IPNet))
	}
	routes, err := netlink.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: 0}, 0)
	if err != nil {
		return h, fmt.Errorf("list root routes: %w", err)
	}
	for _, r := range routes {
		h.Routes = append(h.Routes, fmt.Sprintf("%v via %v dev %d table %d", r.Dst, r.Gw, r.LinkIndex, r.Table))
	}
	sort.Strings(h.Links)
	sort.Strings(h.Addrs)
	sort.Strings(h.Routes)
	if nft, err := exec.LookPath("nft"); err == nil {
		out, err := exec.Command(nft, "list", "ruleset").CombinedOutput()
		if err != nil {
			return h, fmt.Errorf("nft list ruleset: %v: %s", err, out)
		}
		h.Ruleset = string(out)
	}
	return h, nil
}

// Diff describes how the root namespace changed, or "" if it did not.
func (h Host) Diff(now Host) string {
	var out []string
	cmp := func(what string, a, b []string) {
		if strings.Join(a, "\n") != strings.Join(b, "\n") {
			out = append(out, fmt.Sprintf("root namespace %s changed:\n  before: %v\n  after:  %v", what, a, b))
		}
	}
	cmp("links", h.Links, now.Links)
	cmp("addresses", h.Addrs, now.Addrs)
	cmp("routes", h.Routes, now.Routes)
	if h.Ruleset != now.Ruleset {
		out = append(out, "nftables ruleset of the root namespace changed")
	}
	return strings.Join(out, "\n")
}

// Leftovers lists lab namespaces, lab state and lvslab processes that
// still exist; suites expect none after each spec.
func Leftovers() []string {
	var out []string
	ns, _ := filepath.Glob("/run/netns/lvs-*")
	for _, n := range ns {
		out = append(out, "namespace "+filepath.Base(n))
	}
	labs, _ := topology.Labs()
	for _, l := range labs {
		out = append(out, "lab state "+l)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		argv := strings.Split(string(data), "\x00")
		if filepath.Base(argv[0]) == "lvslab" {
			out = append(out, "process "+strings.Join(argv, " "))
		}
	}
	return out
}

// Prepare removes what earlier runs of a suite left behind (the labs whose
// names start with prefix; a user's own labs are left alone) and
// snapshots the host for Check.
func Prepare(prefix string) (Host, error) {
	if _, err := topology.Sweep(func(lab string) bool { return strings.HasPrefix(lab, prefix) }); err != nil {
		return Host{}, err
	}
	return Snapshot()
}

// Check fails when anything is left behind or the root namespace changed
// since h was taken.
func (h Host) Check() error {
	if left := Leftovers(); len(left) > 0 {
		return fmt.Errorf("left behind: %s", strings.Join(left, ", "))
	}
	now, err := Snapshot()
	if err != nil {
		return err
	}
	if diff := h.Diff(now); diff != "" {
		return errors.New(diff)
	}
	return nil
}
