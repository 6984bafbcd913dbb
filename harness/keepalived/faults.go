//go:build linux

package keepalived

import (
	"fmt"
	"strings"
	"time"

	"github.com/lvslab/lvslab/harness"
)

// Faults a director pair can suffer, each with its recovery. A fault
// returns the instant it struck, from which a takeover is timed.

// Crash makes the director die as a machine does (Daemon.Crash): its
// keepalived stopped at once, its links down, then killed; it keeps the
// VIP configured, as a hung machine would.
func (d *Director) Crash() (time.Time, error) { return d.Keepalived.Crash() }

// Terminate stops keepalived gracefully (SIGTERM): what an operator's
// "systemctl stop keepalived" does. It returns the instant of the signal
// once every process ended.
func (d *Director) Terminate() (time.Time, error) {
	at := time.Now()
	return at, d.Stop()
}

// SetBackLinkUp takes only the director's link to the real servers down
// (or up): keepalived sees the back instance fail, and the sync group
// takes the front instance with it.
func (d *Director) SetBackLinkUp(up bool) (time.Time, error) {
	at := time.Now()
	return at, d.Node.SetLinkUp(d.pair.Lab.Spec.BackSegment(), up)
}

// Reboot gives a director that is down (crashed or stopped) a fresh
// namespace, as a restarted machine has: no IPVS table, no connection
// entries, no VIP; then sets its sysctls again. Start keepalived after.
func (d *Director) Reboot() error {
	if d.Running() {
		return fmt.Errorf("reboot %s: stop or crash keepalived there first", d.Name())
	}
	d.Director.Close()
	lab := d.pair.Lab
	if err := lab.Reboot(d.Name()); err != nil {
		return err
	}
	if err := harness.Wire(lab, lab.Spec.Mode); err != nil {
		return err
	}
	return d.open(d.Node)
}

// splitTable is the bridge-family table that cuts a pair's directors
// apart on every segment (in the lab's switch namespace).
const splitTable = "lvslab_split"

// Split cuts the directors off from each other, and only from each other:
// on every segment the bridges drop frames between their two ports, so
// both still reach the client and the real servers, hear no adverts, and
// both become master (split brain). Heal undoes it.
func (p *Pair) Split() (time.Time, error) {
	var rules []string
	a, b := p.Directors[0].Node, p.Directors[1].Node
	for _, l := range a.Links {
		pa, pb := a.Name+"-"+l.Segment, b.Name+"-"+l.Segment
		rules = append(rules, fmt.Sprintf("iifname %q oifname %q drop", pa, pb), fmt.Sprintf("iifname %q oifname %q drop", pb, pa))
	}
	script := fmt.Sprintf("table bridge %s {\n chain forward {\n  type filter hook forward priority 0; policy accept;\n  %s\n }\n}\n",
		splitTable, strings.Join(rules, "\n  "))
	if err := harness.Nft(p.Lab.Switch(), script); err != nil {
		return time.Time{}, fmt.Errorf("split the directors: %w", err)
	}
	return time.Now(), nil
}

// Heal joins the directors again after Split.
func (p *Pair) Heal() (time.Time, error) {
	if err := harness.Nft(p.Lab.Switch(), "delete table bridge "+splitTable+"\n"); err != nil {
		return time.Time{}, fmt.Errorf("heal the directors' link: %w", err)
	}
	return time.Now(), nil
}
