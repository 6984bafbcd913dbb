//go:build linux

package harness

import (
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Faults a director pair and its real servers can suffer, each with its
// recovery. A director fault returns the instant it struck, from which
// a takeover is timed.

// Crash makes the director die as a machine does: every keepalived
// process is stopped at once (SIGSTOP to the process group, so that no
// child can react), the director's links go down, then every process is
// killed. Killing only keepalived's parent would be a graceful stop: its
// children have PR_SET_PDEATHSIG and would send a priority-0 advert and
// remove the VIP (keepalived's vrrp_daemon.c, check_daemon.c). A crashed
// director keeps the VIP configured, as a hung machine would, but with its
// links down nothing reaches it. It returns when the processes stopped.
func (d *HADirector) Crash() (time.Time, error) {
	d.mu.Lock()
	cmd := d.cmd
	d.mu.Unlock()
	if cmd == nil {
		return time.Time{}, fmt.Errorf("crash %s: keepalived is not running there", d.Name())
	}
	pgid := cmd.Process.Pid
	d.down.Store(true)
	at := time.Now()
	if err := unix.Kill(-pgid, unix.SIGSTOP); err != nil {
		return at, fmt.Errorf("crash %s: stop keepalived's processes: %w", d.Name(), err)
	}
	if err := d.SetLinksUp(false); err != nil {
		return at, fmt.Errorf("crash %s: %w", d.Name(), err)
	}
	err := d.signalAndWait(func(*exec.Cmd) error { return unix.Kill(-pgid, unix.SIGKILL) }, 5*time.Second)
	return at, err
}

// Terminate stops keepalived gracefully (SIGTERM): what an operator's
// "systemctl stop keepalived" does. It returns the instant of the signal
// once every process ended.
func (d *HADirector) Terminate() (time.Time, error) {
	at := time.Now()
	return at, d.Stop()
}

// SetLinksUp takes every link of the director down or up.
func (d *HADirector) SetLinksUp(up bool) error {
	for _, l := range d.Node.Links {
		if err := d.Node.SetLinkUp(l.Segment, up); err != nil {
			return err
		}
	}
	return nil
}

// SetBackLinkUp takes only the director's link to the real servers down
// (or up): keepalived sees the back instance fail, and the sync group
// takes the front instance with it.
func (d *HADirector) SetBackLinkUp(up bool) (time.Time, error) {
	at := time.Now()
	return at, d.Node.SetLinkUp(d.ha.Lab.Spec.BackSegment(), up)
}

// Reboot gives a director that is down (crashed or stopped) a fresh
// namespace, as a restarted machine has: no IPVS table, no connection
// entries, no VIP; then sets its sysctls again. Start keepalived after.
func (d *HADirector) Reboot() error {
	if d.Running() {
		return fmt.Errorf("reboot %s: stop or crash keepalived there first", d.Name())
	}
	d.Director.Close()
	if err := d.ha.Lab.Reboot(d.Name()); err != nil {
		return err
	}
	if err := Wire(d.ha.Lab, d.ha.Lab.Spec.Mode); err != nil {
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
func (ha *HA) Split() (time.Time, error) {
	var rules []string
	a, b := ha.Directors[0].Node, ha.Directors[1].Node
	for _, l := range a.Links {
		pa, pb := a.Name+"-"+l.Segment, b.Name+"-"+l.Segment
		rules = append(rules, fmt.Sprintf("iifname %q oifname %q drop", pa, pb), fmt.Sprintf("iifname %q oifname %q drop", pb, pa))
	}
	script := fmt.Sprintf("table bridge %s {\n chain forward {\n  type filter hook forward priority 0; policy accept;\n  %s\n }\n}\n",
		splitTable, strings.Join(rules, "\n  "))
	if err := Nft(ha.Lab.Switch(), script); err != nil {
		return time.Time{}, fmt.Errorf("split the directors: %w", err)
	}
	return time.Now(), nil
}

// Heal joins the directors again after Split.
func (ha *HA) Heal() (time.Time, error) {
	if err := Nft(ha.Lab.Switch(), "delete table bridge "+splitTable+"\n"); err != nil {
		return time.Time{}, fmt.Errorf("heal the directors' link: %w", err)
	}
	return time.Now(), nil
}

// ServerFault is what can go wrong with a real server while its node is
// fine.
type ServerFault string

const (
	// FaultRefused: the server process is gone; its port refuses.
	FaultRefused ServerFault = "refused"
	// FaultBlackhole: the port drops every packet (nftables), as a hung
	// host or a firewall does; a connect times out.
	FaultBlackhole ServerFault = "blackhole"
	// FaultSlow: the server accepts, but answers only after SlowDelay.
	FaultSlow ServerFault = "slow"
	// Fault503: the server answers every request with 503.
	Fault503 ServerFault = "503"
)

// ServerFaults lists the real-server faults.
var ServerFaults = []ServerFault{FaultRefused, FaultBlackhole, FaultSlow, Fault503}

// SlowDelay is how long a slowed server takes per request: longer than
// the lab's checker timeout, so the checker gives up on it.
const SlowDelay = 3 * time.Second

// blackholeTable is the inet-family table of a black-holed server.
const blackholeTable = "lvslab_blackhole"

// InjectFault makes one real server fail in that way and returns the
// instant the fault was in place; ClearFault recovers it.
func (s *RealServer) InjectFault(f ServerFault) (time.Time, error) {
	var err error
	switch f {
	case FaultRefused:
		err = s.Stop()
	case FaultBlackhole:
		err = Nft(s.Node, fmt.Sprintf("table inet %s {\n chain input {\n  type filter hook input priority 0; policy accept;\n  tcp dport %d drop\n }\n}\n", blackholeTable, s.port))
	case FaultSlow:
		s.Degrade(0, SlowDelay)
	case Fault503:
		s.Degrade(http.StatusServiceUnavailable, 0)
	default:
		err = fmt.Errorf("real-server fault %q: use refused, blackhole, slow or 503", f)
	}
	return time.Now(), err
}

// ClearFault recovers a real server from a fault InjectFault caused, and
// returns the instant it was healthy again. Clearing a fault already
// cleared does nothing, so that a spec may clear it and still leave the
// clearing to its cleanup.
func (s *RealServer) ClearFault(f ServerFault) (time.Time, error) {
	var err error
	switch f {
	case FaultRefused:
		err = s.Start()
	case FaultBlackhole:
		// Declaring the table first makes the delete succeed when it is gone.
		err = Nft(s.Node, "table inet "+blackholeTable+"\ndelete table inet "+blackholeTable+"\n")
	case FaultSlow, Fault503:
		s.Degrade(0, 0)
	default:
		err = fmt.Errorf("real-server fault %q: use refused, blackhole, slow or 503", f)
	}
	return time.Now(), err
}
