//go:build linux

package harness

import (
	"context"
	"errors"
	"fmt"

	"github.com/lvslab/lvslab/topology"
)

// Lab is a running lab: the built topology and its real servers.
type Lab struct {
	*topology.Lab
	Servers []*RealServer
}

// Start builds the lab and starts a real server in every real-server node.
// On error nothing is left behind.
func Start(ctx context.Context, spec *topology.Spec, cfg ServerConfig) (*Lab, error) {
	t, err := topology.Build(ctx, spec)
	if err != nil {
		return nil, err
	}
	lab, err := StartServers(t, cfg)
	if err != nil {
		return nil, errors.Join(err, t.Close())
	}
	return lab, nil
}

// StartServers starts a real server in every real-server node of a lab
// that is already built.
func StartServers(t *topology.Lab, cfg ServerConfig) (*Lab, error) {
	lab := &Lab{Lab: t}
	for _, n := range t.RealServers() {
		s := newRealServer(n, t.Spec.VIP.Port, cfg)
		if err := s.Start(); err != nil {
			lab.stopServers()
			return nil, err
		}
		lab.Servers = append(lab.Servers, s)
	}
	return lab, nil
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
	return errors.Join(l.stopServers(), l.Lab.Close())
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
