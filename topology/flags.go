//go:build linux

package topology

import (
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/lvslab/lvslab/fixtures"
)

// SpecFlags are how lvslab up picks a topology (a file or a shipped one,
// renamed, rewired) and places it on this machine: Register declares
// them, Spec plans what they say.
type SpecFlags struct {
	file, name, topology, mode string
	isolate                    bool
	switchMode                 SwitchFlag
	ageing                     time.Duration
}

// FlagError is a mistake on the command line, which the caller reports
// as such; other errors of Spec are the topology file's.
type FlagError struct{ Err error }

func (e *FlagError) Error() string { return e.Err.Error() }
func (e *FlagError) Unwrap() error { return e.Err }

// Register declares the flags on fs.
func (t *SpecFlags) Register(fs *flag.FlagSet) {
	fs.StringVar(&t.file, "f", "", "topology `file` (YAML); overrides --topology")
	fs.StringVar(&t.topology, "topology", "paper", "shipped topology: "+strings.Join(fixtures.Topologies(), ", ")+" (paper: 8 real servers, small: 2, paper-ha: paper with a keepalived director pair)")
	fs.StringVar(&t.name, "name", "", "lab `name` (default: the topology's name)")
	fs.StringVar(&t.mode, "mode", "", "wiring of the real servers' replies: direct, routed, nat, dr or tun (default: the topology's)")
	fs.BoolVar(&t.isolate, "isolate", false, "give each station CPUs of its own (client, director, router, real servers; at least 3 CPUs):\nprocesses pinned, receive processing steered there with RPS, IPVS's estimator placed")
	fs.Var(&t.switchMode, "switch", "static (a forwarding entry for every node's link: no flooding) or learning (a real switch's\nbehaviour: a port that never sends is flooded once its address ages out)")
	fs.DurationVar(&t.ageing, "ageing-time", 0, "the bridges' ageing time (0: the kernel's 300s)")
}

// Spec returns the planned topology the flags fs parsed say. A topology
// file's own switch settings stand unless a flag overrides them.
func (t *SpecFlags) Spec(fs *flag.FlagSet) (*Spec, error) {
	if t.name != "" {
		if err := CheckLabName(t.name); err != nil {
			return nil, &FlagError{fmt.Errorf("--name: %w", err)}
		}
	}
	var s *Spec
	var err error
	if t.file != "" {
		s, err = LoadFile(t.file)
	} else if s, err = Shipped(t.topology); err != nil {
		err = &FlagError{err}
	}
	if err != nil {
		return nil, err
	}
	if t.name != "" {
		s.Name = t.name
	}
	if t.mode != "" {
		s.Mode = Mode(t.mode)
	}
	if s, err = Plan(s); err != nil {
		return nil, err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if given["switch"] {
		s.Switch.Learning = t.switchMode.Learning
	}
	if given["ageing-time"] {
		s.Switch.AgeingTime = t.ageing
	}
	if t.isolate {
		if err := IsolateOnline(s); err != nil {
			return nil, &FlagError{fmt.Errorf("--isolate: %w", err)}
		}
	}
	if s, err = Plan(s); err != nil {
		return nil, &FlagError{err}
	}
	return s, nil
}
