//go:build linux

package keepalived

import (
	"fmt"
	"slices"

	"github.com/lvslab/lvslab/harness"
	"github.com/lvslab/lvslab/topology"
)

// Status is what lvslab status --ha shows of a director pair: each
// director as keepalived and the kernel see it, and the last events.
type Status struct {
	Lab       string           `json:"lab"`
	Options   *Options         `json:"options,omitempty"`
	Directors []DirectorStatus `json:"directors"`
	Events    []Event          `json:"events"`
}

// DirectorStatus is one director of a pair.
type DirectorStatus struct {
	Name string `json:"name"`
	// Keepalived lists its live processes (parent, VRRP and checker).
	Keepalived []int `json:"keepalived_pids"`
	// State is the last VRRP state keepalived reported for the front
	// instance; VIP and Floating say what the kernel holds.
	State    string                 `json:"vrrp_state"`
	VIP      bool                   `json:"holds_vip"`
	Floating bool                   `json:"holds_floating"`
	Daemons  []harness.SyncDaemon   `json:"sync_daemons"`
	IPVS     []harness.ServiceState `json:"ipvs"`
	// Header is /proc/net/ip_vs's first line, for printing the table.
	Header string `json:"-"`
}

// ReadStatus reads the state of a lab's director pair, whichever process
// runs it.
func ReadStatus(t *topology.Lab) (*Status, error) {
	if !t.Spec.IsHA() {
		return nil, fmt.Errorf("lab %s has %d director(s), not a pair (build one with --topology paper-ha)", t.Spec.Name, len(t.Directors()))
	}
	st := &Status{Lab: t.Spec.Name}
	if o, ok, err := readOptions(t.Spec.Name); err == nil && ok {
		st.Options = &o
	}
	events, err := readEvents(t.Spec.Name)
	if err != nil {
		return nil, err
	}
	procs := topology.Processes(t.Spec.Name)
	for _, n := range t.Directors() {
		ds := DirectorStatus{Name: n.Name, VIP: holdsVIP(t, n), Floating: holdsFloating(t, n)}
		for _, p := range procs {
			if p.Role == processRole+n.Name {
				ds.Keepalived = append(ds.Keepalived, p.PID)
			}
		}
		slices.Sort(ds.Keepalived)
		for _, e := range events {
			if e.Director == n.Name && e.isFrontState() {
				ds.State = e.State
			}
		}
		if err := readTables(n, &ds); err != nil {
			return nil, err
		}
		st.Directors = append(st.Directors, ds)
	}
	st.Events = events[max(0, len(events)-20):]
	return st, nil
}

// readTables reads a director's sync daemons and IPVS table.
func readTables(n *topology.Node, ds *DirectorStatus) error {
	d, err := harness.OpenDirectorAt(n)
	if err != nil {
		return err
	}
	defer d.Close()
	if ds.Daemons, err = d.SyncDaemons(); err != nil {
		return err
	}
	if ds.IPVS, err = d.Services(); err != nil {
		return err
	}
	ds.Header, err = harness.IPVSHeader(n)
	return err
}
