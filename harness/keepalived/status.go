//go:build linux

package keepalived

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"

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

	spec *topology.Spec
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

// ReadLabStatus opens the lab named and reads the state of its director
// pair.
func ReadLabStatus(lab string) (*Status, error) {
	t, err := topology.Open(lab)
	if err != nil {
		return nil, err
	}
	defer t.Detach()
	return ReadStatus(t)
}

// ReadStatus reads the state of a lab's director pair, whichever process
// runs it.
func ReadStatus(t *topology.Lab) (*Status, error) {
	if !t.Spec.IsHA() {
		return nil, fmt.Errorf("lab %s has %d director(s), not a pair (build one with --topology paper-ha)", t.Spec.Name, len(t.Directors()))
	}
	st := &Status{Lab: t.Spec.Name, spec: t.Spec}
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
	ds.IPVS, ds.Header, err = d.Table()
	return err
}

// WriteTable writes the pair as lvslab status --ha shows it: each
// director's VRRP state, what it holds and its keepalived, the sync
// daemons, the last events, and each director's IPVS table last, so that
// it reads (and diffs) like ipvsadm -Ln.
func (st *Status) WriteTable(w io.Writer) error {
	s := st.spec
	fmt.Fprintf(w, "lab %s, mode %s: director pair, VIP %s on-link on %s, floating gateway %s on %s\n\n", st.Lab, s.Mode,
		s.VIP.IPv4, s.FrontSegment(), s.Floating, s.BackSegment())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DIRECTOR\tVRRP\tVIP\tFLOATING\tKEEPALIVED")
	held := map[bool]string{true: "held", false: "-"}
	for _, d := range st.Directors {
		procs, state := "not running", cmp.Or(d.State, "-")
		if len(d.Keepalived) > 0 {
			procs = fmt.Sprintf("pids %v", d.Keepalived)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.Name, state, held[d.VIP], held[d.Floating], procs)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, d := range st.Directors {
		fmt.Fprintf(w, "\n%s sync daemons (ipvsadm -L --daemon):\n", d.Name)
		if len(d.Daemons) == 0 {
			fmt.Fprintln(w, "none")
		}
		harness.WriteDaemons(w, d.Daemons)
	}
	if len(st.Events) > 0 {
		fmt.Fprintln(w, "\nlast keepalived events:")
		for _, e := range st.Events {
			fmt.Fprintf(w, "%s  %-9s %-8s %-16s %s\n", e.At.Format("15:04:05.000"), e.Director, e.Kind, e.Name, e.State)
		}
	}
	for _, d := range st.Directors {
		fmt.Fprintf(w, "\n%s:\n", d.Name)
		harness.WriteTable(w, d.Header, d.IPVS, false)
	}
	return nil
}
