//go:build linux

package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/lvslab/lvslab/harness"
	"github.com/lvslab/lvslab/harness/keepalived"
	"github.com/lvslab/lvslab/topology"
)

func init() {
	register(&command{
		name:    "status",
		summary: "Show the labs that are up, or one lab's nodes and real-server counters.",
		usage:   "status [--name N] [--stats] [--ha] [--json]",
		root:    true,
		run:     runStatus,
	})
	register(&command{
		name:    "down",
		summary: "Tear a lab down (namespaces, links, processes, state), half-built or corrupt ones included, or with --all every lab on this machine.",
		usage:   "down [--name N] | --all",
		root:    true,
		run:     runDown,
	})
}

type labStatus struct {
	Lab        string                      `json:"lab"`
	Mode       topology.Mode               `json:"mode"`
	Created    string                      `json:"created"`
	Supervisor bool                        `json:"supervisor_running"`
	Spec       *topology.Spec              `json:"spec,omitempty"`
	Servers    map[string]harness.Counters `json:"servers,omitempty"`
	IPVS       []harness.ServiceState      `json:"ipvs,omitempty"`
	// Broken says why a lab's state cannot be read (half-built, corrupt).
	Broken     string `json:"broken,omitempty"`
	ipvsHeader string
}

func runStatus(ctx context.Context, fs *flag.FlagSet, args []string) error {
	name := fs.String("name", "", "lab to show (default: list every lab)")
	asJSON := fs.Bool("json", false, "print JSON")
	stats := fs.Bool("stats", false, "show the IPVS table's counters, as ipvsadm -Ln --stats")
	ha := fs.Bool("ha", false, "show a director pair: keepalived in each director, VRRP state, who holds the VIP, the sync daemons (as ipvsadm -L --daemon) and the last keepalived events")
	if err := parse(find("status"), fs, args, false); err != nil {
		return err
	}
	if *ha {
		lab, err := labName(*name)
		if err != nil {
			return err
		}
		return printPair(lab, *asJSON)
	}
	labs := []string{*name}
	if *name == "" {
		var err error
		if labs, err = topology.Labs(); err != nil {
			return err
		}
	} else if err := topology.CheckLabName(*name); err != nil {
		return usageError{fmt.Errorf("--name: %w", err)}
	}
	var out []labStatus
	for _, lab := range labs {
		st, err := topology.ReadState(lab)
		if topology.IsCorrupt(err) && *name == "" {
			// One broken lab does not hide the others.
			out = append(out, labStatus{Lab: lab, Mode: "?", Created: "?", Broken: err.Error()})
			continue
		}
		if err != nil {
			return err
		}
		s := labStatus{Lab: lab, Mode: st.Spec.Mode, Created: st.Created.Format("2006-01-02 15:04:05Z"),
			Supervisor: len(topology.Processes(lab)) > 0}
		if *name != "" {
			s.Spec = st.Spec
			if s.Supervisor {
				s.Servers, _ = harness.Connect(lab).Counters(ctx)
			}
			if st.Spec.Mode.Balanced() {
				s.IPVS, s.ipvsHeader, err = readIPVS(lab)
				if err != nil {
					return err
				}
			}
		}
		out = append(out, s)
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if *name == "" {
		if len(out) == 0 {
			fmt.Println("no lab is up")
			return nil
		}
		tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "LAB\tMODE\tCREATED\tREAL SERVERS")
		for _, s := range out {
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
	s := out[0]
	if *stats && s.ipvsHeader == "" {
		return fmt.Errorf("lab %s has no IPVS director (mode %s)", s.Lab, s.Mode)
	}
	if s.ipvsHeader != "" && *stats {
		harness.WriteTable(os.Stdout, s.ipvsHeader, s.IPVS, true)
		return nil
	}
	fmt.Printf("lab %s, mode %s, created %s\n\n", s.Lab, s.Mode, s.Created)
	printNodes(os.Stdout, s.Spec)
	// The IPVS table comes last, so that it reads (and diffs) like ipvsadm -Ln.
	defer func() {
		if s.ipvsHeader != "" {
			fmt.Println()
			harness.WriteTable(os.Stdout, s.ipvsHeader, s.IPVS, false)
		}
	}()
	if !s.Supervisor {
		fmt.Println("\nreal servers: not serving (the supervisor is gone; lvslab down --name " + s.Lab + " removes the lab)")
		return nil
	}
	fmt.Println()
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "REAL SERVER\tUP\tACCEPTS\tREQUESTS\tUDP")
	for _, rs := range s.Spec.ByRole(topology.RoleRealServer) {
		c := s.Servers[rs.Name]
		fmt.Fprintf(tw, "%s\t%v\t%d\t%d\t%d\n", rs.Name, c.Up, c.Accepts, c.Requests, c.UDP)
	}
	return tw.Flush()
}

func runDown(ctx context.Context, fs *flag.FlagSet, args []string) error {
	name := fs.String("name", "", "lab to tear down (default: the only lab up)")
	all := fs.Bool("all", false, "tear down every lab lvslab recorded, including what crashed runs left")
	if err := parse(find("down"), fs, args, false); err != nil {
		return err
	}
	if *all {
		if *name != "" {
			return usageError{fmt.Errorf("give --name or --all, not both")}
		}
		// Sweep names only the labs it removed; the error, those it could not.
		labs, err := topology.Sweep(nil)
		for _, l := range labs {
			fmt.Fprintf(os.Stderr, "removed lab %s\n", l)
		}
		if err == nil && len(labs) == 0 {
			fmt.Fprintln(os.Stderr, "no lab to remove")
		}
		return err
	}
	lab, err := labName(*name)
	if err != nil {
		return err
	}
	if err := topology.Remove(lab); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "removed lab %s\n", lab)
	return nil
}

// readIPVS reads the director's IPVS table of a lab that is up.
func readIPVS(lab string) ([]harness.ServiceState, string, error) {
	t, err := topology.Open(lab)
	if err != nil {
		return nil, "", err
	}
	defer t.Detach()
	d, err := harness.OpenDirector(t)
	if err != nil {
		return nil, "", err
	}
	defer d.Close()
	svcs, err := d.Services()
	if err != nil {
		return nil, "", err
	}
	header, err := harness.IPVSHeader(t.Director())
	return svcs, header, err
}

// printPair shows a director pair, or its state as JSON.
func printPair(lab string, asJSON bool) error {
	t, err := topology.Open(lab)
	if err != nil {
		return err
	}
	defer t.Detach()
	st, err := keepalived.ReadStatus(t)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	fmt.Printf("lab %s, mode %s: director pair, VIP %s on-link on %s, floating gateway %s on %s\n\n", lab, t.Spec.Mode,
		t.Spec.VIP.IPv4, t.Spec.FrontSegment(), t.Spec.Floating, t.Spec.BackSegment())
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DIRECTOR\tVRRP\tVIP\tFLOATING\tKEEPALIVED")
	yes := map[bool]string{true: "held", false: "-"}
	for _, d := range st.Directors {
		procs := "not running"
		if len(d.Keepalived) > 0 {
			procs = fmt.Sprintf("pids %v", d.Keepalived)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.Name, orDash(d.State), yes[d.VIP], yes[d.Floating], procs)
	}
	tw.Flush()
	for _, d := range st.Directors {
		fmt.Printf("\n%s sync daemons (ipvsadm -L --daemon):\n", d.Name)
		if len(d.Daemons) == 0 {
			fmt.Println("none")
		}
		harness.WriteDaemons(os.Stdout, d.Daemons)
	}
	if len(st.Events) > 0 {
		fmt.Println("\nlast keepalived events:")
		for _, e := range st.Events {
			fmt.Printf("%s  %-9s %-8s %-16s %s\n", e.At.Format("15:04:05.000"), e.Director, e.Kind, e.Name, e.State)
		}
	}
	// Each director's table last, so that it reads (and diffs) like ipvsadm -Ln.
	for _, d := range st.Directors {
		fmt.Printf("\n%s:\n", d.Name)
		harness.WriteTable(os.Stdout, d.Header, d.IPVS, false)
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
