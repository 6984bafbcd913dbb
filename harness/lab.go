//go:build linux

package harness

import (
	"errors"
	"fmt"

	"github.com/lvslab/lvslab/topology"
)

// Lab is a running lab: the built topology, its real servers when they
// run in this process, and what Up started in its director(s).
type Lab struct {
	*topology.Lab
	// Servers are the real servers running in this process (none when a
	// supervisor runs them: Connect reads their counters).
	Servers []*RealServer
	// IPVS is the director Up started, serving the VIP (nil in direct
	// and routed mode, in an HA lab, or with UpOptions.NoDirector).
	IPVS *Director
	// Master is the director of a supervised pair that held the VIP once
	// Up returned.
	Master *topology.Node
	// Notes say what placing the stations could not do as asked
	// (topology.Lab.PinStations).
	Notes []string
}

// startServers starts a real server in every real-server node; on error
// none is left running.
func (l *Lab) startServers(cfg ServerConfig) error {
	for _, n := range l.RealServers() {
		s := newRealServer(n, l.Spec.VIP.Port, cfg)
		if err := s.Start(); err != nil {
			l.stopServers()
			return err
		}
		l.Servers = append(l.Servers, s)
	}
	return nil
}

// Topology is the built lab the servers run in, for what takes a
// *topology.Lab (loadgen.ForLab, Wire, Verify) without spelling l.Lab.
func (l *Lab) Topology() *topology.Lab { return l.Lab }

// Server returns the real server of that name, or nil.
func (l *Lab) Server(name string) *RealServer {
	for _, s := range l.Servers {
		if s.Name() == name {
			return s
		}
	}
	return nil
}

// Counters returns every real server's counters by name.
func (l *Lab) Counters() map[string]Counters {
	out := make(map[string]Counters, len(l.Servers))
	for _, s := range l.Servers {
		out[s.Name()] = s.Counters()
	}
	return out
}

// Close stops the servers and tears the lab down.
func (l *Lab) Close() error {
	l.closeIPVS()
	return errors.Join(l.stopServers(), l.Lab.Close())
}

// Detach releases this process's handles and leaves the lab up: for a lab
// whose servers a supervisor runs (UpOptions.Supervise).
func (l *Lab) Detach() {
	l.closeIPVS()
	l.Lab.Detach()
}

func (l *Lab) closeIPVS() {
	if l.IPVS != nil {
		l.IPVS.Close()
		l.IPVS = nil
	}
}

func (l *Lab) stopServers() error {
	var errs []error
	for _, s := range l.Servers {
		if err := s.Stop(); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("stop real servers: %w", errors.Join(errs...))
	}
	return nil
}
