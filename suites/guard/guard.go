//go:build linux

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

// Host is a snapshot of what lvslab must never change or leave behind,
// and the prefix of the labs whose leftovers the guard looks for.
type Host struct {
	Links, Addrs, Routes []string
	Ruleset              string
	prefix               string
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

// Leftovers lists the namespaces, lab state and lvslab processes of labs
// whose names start with prefix: a suite's own, which it expects gone
// after each spec. Labs of other names (a user's, another suite's) are not
// its business.
func Leftovers(prefix string) []string {
	return leftovers(func(lab string) bool { return strings.HasPrefix(lab, prefix) })
}

// LabLeftovers lists what one lab left behind.
func LabLeftovers(lab string) []string {
	return leftovers(func(name string) bool { return name == lab })
}

func leftovers(match func(lab string) bool) []string {
	var out []string
	ns, _ := filepath.Glob("/run/netns/lvs-*")
	for _, n := range ns {
		// lvs-<lab>-<node>: a lab name has no dash, so it ends at the first.
		lab, _, _ := strings.Cut(strings.TrimPrefix(filepath.Base(n), "lvs-"), "-")
		if match(lab) {
			out = append(out, "namespace "+filepath.Base(n))
		}
	}
	labs, _ := topology.Labs()
	for _, l := range labs {
		if match(l) {
			out = append(out, "lab state "+l)
		}
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		argv := strings.Split(string(data), "\x00")
		if filepath.Base(argv[0]) == "lvslab" && ownedBy(argv, match) {
			out = append(out, "process "+strings.Join(argv, " "))
		}
	}
	return out
}

// ownedBy says whether an lvslab command line acts on a matching lab
// (--name NAME; a bench's --name is the prefix of its labs' names, which
// match them too since they start with a matching prefix).
func ownedBy(argv []string, match func(string) bool) bool {
	for i, a := range argv {
		name, ok := strings.CutPrefix(a, "--name=")
		if !ok && a == "--name" && i+1 < len(argv) {
			name, ok = argv[i+1], true
		}
		if ok && match(name) {
			return true
		}
	}
	return false
}

// Prepare removes what earlier runs of a suite left behind (the labs whose
// names start with prefix; every other lab is left alone) and snapshots
// the host for Check.
func Prepare(prefix string) (Host, error) {
	if _, err := topology.Sweep(func(lab string) bool { return strings.HasPrefix(lab, prefix) }); err != nil {
		return Host{}, err
	}
	h, err := Snapshot()
	h.prefix = prefix
	return h, err
}

// CheckLab is Check for one lab: its leftovers only (another lab of the
// suite may still be up), and the root namespace.
func (h Host) CheckLab(lab string) error {
	if left := LabLeftovers(lab); len(left) > 0 {
		return fmt.Errorf("left behind: %s", strings.Join(left, ", "))
	}
	return h.checkRoot()
}

// Check fails when a lab of the prefix left anything behind or the root
// namespace changed since h was taken.
func (h Host) Check() error {
	if left := Leftovers(h.prefix); len(left) > 0 {
		return fmt.Errorf("left behind: %s", strings.Join(left, ", "))
	}
	return h.checkRoot()
}

func (h Host) checkRoot() error {
	now, err := Snapshot()
	if err != nil {
		return err
	}
	if diff := h.Diff(now); diff != "" {
		return errors.New(diff)
	}
	return nil
}
