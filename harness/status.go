//go:build linux

package harness

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"text/tabwriter"

	"github.com/lvslab/lvslab/topology"
)

// LabStatus is what lvslab status shows of a lab that is up.
type LabStatus struct {
	Lab        string        `json:"lab"`
	Mode       topology.Mode `json:"mode"`
	Created    string        `json:"created"`
	Supervisor bool          `json:"supervisor_running"`
	// Spec, Servers and IPVS are read for one lab (ReadLabStatus's detail).
	Spec    *topology.Spec      `json:"spec,omitempty"`
	Servers map[string]Counters `json:"servers,omitempty"`
	IPVS    []ServiceState      `json:"ipvs,omitempty"`
	// Impairments are the lab's impaired links ("node:link"), read from
	// the kernel.
	Impairments map[string]topology.Impairment `json:"impairments,omitempty"`
	// IPVSHeader is /proc/net/ip_vs's first line, for WriteTable.
	IPVSHeader string `json:"-"`
	// Broken says why a lab's state cannot be read (half-built, corrupt).
	Broken string `json:"broken,omitempty"`
}

// ReadLabStatus reads a lab's state and whether its supervisor runs; with
// detail also its spec, its real servers' counters and its director's
// IPVS table.
func ReadLabStatus(ctx context.Context, lab string, detail bool) (LabStatus, error) {
	st, err := topology.ReadState(lab)
	if err != nil {
		return LabStatus{Lab: lab, Mode: "?", Created: "?"}, err
	}
	s := LabStatus{Lab: lab, Mode: st.Spec.Mode, Created: st.Created.Format("2006-01-02 15:04:05Z"),
		Supervisor: len(topology.Processes(lab)) > 0}
	if !detail {
		return s, nil
	}
	s.Spec = st.Spec
	if s.Supervisor {
		s.Servers, _ = Connect(lab).Counters(ctx)
	}
	if s.Impairments, err = readImpairments(lab); err != nil {
		return s, err
	}
	if st.Spec.Mode.Balanced() {
		s.IPVS, s.IPVSHeader, err = readTable(lab)
	}
	return s, err
}

func readImpairments(lab string) (map[string]topology.Impairment, error) {
	t, err := topology.Open(lab)
	if err != nil {
		return nil, err
	}
	defer t.Detach()
	return t.Impairments()
}

// ReadLabStatuses reads every lab that is up; one whose state is corrupt
// is listed as broken, so that it does not hide the others.
func ReadLabStatuses(ctx context.Context) ([]LabStatus, error) {
	labs, err := topology.Labs()
	if err != nil {
		return nil, err
	}
	var out []LabStatus
	for _, lab := range labs {
		s, err := ReadLabStatus(ctx, lab, false)
		if topology.IsCorrupt(err) {
			s.Broken = err.Error()
		} else if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// readTable reads the director's IPVS table of a lab that is up.
func readTable(lab string) ([]ServiceState, string, error) {
	t, err := topology.Open(lab)
	if err != nil {
		return nil, "", err
	}
	defer t.Detach()
	d, err := OpenDirector(t)
	if err != nil {
		return nil, "", err
	}
	defer d.Close()
	return d.Table()
}

// WriteLabs writes the labs that are up, one line each.
func WriteLabs(w io.Writer, labs []LabStatus) error {
	if len(labs) == 0 {
		_, err := fmt.Fprintln(w, "no lab is up")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "LAB\tMODE\tCREATED\tREAL SERVERS")
	for _, s := range labs {
		serving := "not serving (supervisor gone: lvslab down --name " + s.Lab + ")"
		switch {
		case s.Broken != "":
			serving = "broken: " + s.Broken
		case s.Supervisor:
			serving = "serving"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Lab, s.Mode, s.Created, serving)
	}
	return tw.Flush()
}

// WriteTable writes one lab read with detail: its nodes, its real
// servers' counters and, last, so that it reads (and diffs) like ipvsadm
// -Ln, its director's IPVS table.
func (s LabStatus) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "lab %s, mode %s, created %s\n\n", s.Lab, s.Mode, s.Created)
	s.Spec.WriteNodes(w)
	if !s.Supervisor {
		fmt.Fprintln(w, "\nreal servers: not serving (the supervisor is gone; lvslab down --name "+s.Lab+" removes the lab)")
	} else {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "REAL SERVER\tUP\tACCEPTS\tREQUESTS\tUDP")
		for _, rs := range s.Spec.ByRole(topology.RoleRealServer) {
			c := s.Servers[rs.Name]
			fmt.Fprintf(tw, "%s\t%v\t%d\t%d\t%d\n", rs.Name, c.Up, c.Accepts, c.Requests, c.UDP)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(s.Impairments) > 0 {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "IMPAIRED LINK\tIMPAIRMENT (on what the node sends)")
		for _, link := range slices.Sorted(maps.Keys(s.Impairments)) {
			fmt.Fprintf(tw, "%s\t%s\n", link, s.Impairments[link])
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if s.IPVSHeader != "" {
		fmt.Fprintln(w)
		WriteTable(w, s.IPVSHeader, s.IPVS, false)
	}
	return nil
}
