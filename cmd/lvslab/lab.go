//go:build linux

package main

import (
	"errors"
	"fmt"

	"github.com/lvslab/lvslab/topology"
)

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

// useLab opens the lab --name names (or the only one up) for a command
// that acts on it while it runs, held so that no down or up removes it
// meanwhile; done releases it.
func useLab(name string) (*topology.Lab, func(), error) {
	lab, err := labName(name)
	if err != nil {
		return nil, nil, err
	}
	return topology.OpenInUse(lab)
}
