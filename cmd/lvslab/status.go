//go:build linux

package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/lvslab/lvslab/harness"
	"github.com/lvslab/lvslab/harness/keepalived"
	"github.com/lvslab/lvslab/topology"
	"github.com/lvslab/lvslab/vm"
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
	if *name == "" {
		labs, err := harness.ReadLabStatuses(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(labs)
		}
		return harness.WriteLabs(os.Stdout, labs)
	}
	if err := topology.CheckLabName(*name); err != nil {
		return usageError{fmt.Errorf("--name: %w", err)}
	}
	s, err := harness.ReadLabStatus(ctx, *name, true)
	switch {
	case err != nil:
		return err
	case *asJSON:
		return printJSON([]harness.LabStatus{s})
	case *stats && s.IPVSHeader == "":
		return fmt.Errorf("lab %s has no IPVS director (mode %s)", s.Lab, s.Mode)
	case *stats:
		harness.WriteTable(os.Stdout, s.IPVSHeader, s.IPVS, true)
		return nil
	}
	return s.WriteTable(os.Stdout)
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
		// A capped benchmark that was killed leaves its vCPU cgroup.
		cgroups, cerr := vm.SweepCgroups()
		for _, c := range cgroups {
			fmt.Fprintf(os.Stderr, "removed cgroup %s (a killed capped run's)\n", c)
		}
		if err == nil && cerr == nil && len(labs) == 0 && len(cgroups) == 0 {
			fmt.Fprintln(os.Stderr, "no lab to remove")
		}
		return errors.Join(err, cerr)
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

// printPair shows a director pair, or its state as JSON.
func printPair(lab string, asJSON bool) error {
	st, err := keepalived.ReadLabStatus(lab)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(st)
	}
	return st.WriteTable(os.Stdout)
}

// printJSON prints v as indented JSON.
func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
