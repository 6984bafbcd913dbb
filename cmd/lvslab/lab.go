//go:build linux

package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/lvslab/lvslab/fixtures"
	"github.com/lvslab/lvslab/topology"
)

// topologyFlags are how up and bench pick a topology.
type topologyFlags struct {
	file, name, topology, mode string
}

func (t *topologyFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&t.file, "f", "", "topology `file` (YAML); overrides --topology")
	fs.StringVar(&t.topology, "topology", "paper", "shipped topology: "+strings.Join(fixtures.Topologies(), ", ")+" (paper: 8 real servers, small: 2, paper-ha: paper with a keepalived director pair)")
	fs.StringVar(&t.name, "name", "", "lab `name` (default: the topology's name)")
	fs.StringVar(&t.mode, "mode", "", "wiring of the real servers' replies: direct, routed, nat, dr or tun (default: the topology's)")
}

func (t *topologyFlags) spec() (*topology.Spec, error) {
	if t.name != "" {
		if err := topology.CheckLabName(t.name); err != nil {
			return nil, usageError{fmt.Errorf("--name: %w", err)}
		}
	}
	var s *topology.Spec
	var err error
	if t.file != "" {
		s, err = topology.LoadFile(t.file)
	} else if s, err = topology.Shipped(t.topology); err != nil {
		err = usageError{err}
	}
	if err != nil {
		return nil, err
	}
	if t.name != "" {
		s.Name = t.name
	}
	if t.mode != "" {
		s.Mode = topology.Mode(t.mode)
	}
	return topology.Plan(s)
}

// labName picks the lab a command acts on: the one named, checked by the
// lab-name rule before any path is built from it, or the only one that is up.
func labName(name string) (string, error) {
	if name != "" {
		if err := topology.CheckLabName(name); err != nil {
			return "", usageError{fmt.Errorf("--name: %w", err)}
		}
		return name, nil
	}
	labs, err := topology.Labs()
	if err != nil {
		return "", err
	}
	switch len(labs) {
	case 0:
		return "", errors.New("no lab is up: start one with sudo lvslab up")
	case 1:
		return labs[0], nil
	}
	return "", usageError{fmt.Errorf("%d labs are up (%v): say which with --name", len(labs), labs)}
}

// given says whether the command line set a flag.
func given(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
