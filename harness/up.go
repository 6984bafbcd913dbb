//go:build linux

package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/lvslab/lvslab/topology"
)

// UpOptions say what Up starts in a lab besides its namespaces.
type UpOptions struct {
	// Servers configures the real servers: DefaultServerConfig is a small
	// static page.
	Servers ServerConfig
	// Supervise runs the real servers, and Pair, in a supervisor process
	// (StartSupervisor: this must be the lvslab binary), so that they
	// outlive the caller and their CPU is not the caller's. Otherwise
	// they run in this process and stop with Close.
	Supervise bool
	// Director is how a nat, dr or tun lab with one director serves the
	// VIP (StartDirector). An HA lab's directors are Pair's.
	Director DirectorOptions
	// NoDirector leaves a nat, dr or tun lab's director without a table,
	// for a caller that fills it itself.
	NoDirector bool
	// Pair, in an HA lab with Supervise, is the director pair the
	// supervisor runs (keepalived.Options); Up waits for its master. An
	// HA lab without one gets no director at all: its caller starts pairs.
	Pair SupervisedPair
}

// SupervisedPair is a director pair that a lab's supervisor runs beside
// the real servers (package keepalived's Options, which harness does not
// import): Up saves it in the lab's state before the supervisor starts
// and waits for the pair's master after.
type SupervisedPair interface {
	Save(lab string) error
	WaitMaster(ctx context.Context, lab *topology.Lab) (*topology.Node, error)
}

// masterWait bounds the first election: two Master_Down_Intervals of the
// lab's default timing and keepalived's start, with room under TCG.
const masterWait = time.Minute

// Check names what keeps these options from bringing up spec, before
// anything is built.
func (o UpOptions) Check(spec *topology.Spec) error {
	errs := []error{o.Servers.Validate()}
	if o.Pair != nil {
		switch {
		case !spec.IsHA():
			errs = append(errs, fmt.Errorf("lab %s has one director: a director pair needs an HA lab (topology.PaperHA, --topology paper-ha)", spec.Name))
		case !spec.Mode.Balanced():
			errs = append(errs, fmt.Errorf("lab %s runs mode %s: a director pair runs keepalived for a virtual service: use nat, dr or tun", spec.Name, spec.Mode))
		case !o.Supervise:
			errs = append(errs, errors.New("a director pair runs under the lab's supervisor: set Supervise"))
		}
	}
	return errors.Join(errs...)
}

// Up builds a lab and brings it into service: the real servers (here or
// in a supervisor), the director serving the VIP (or a supervised pair,
// once it has a master) and, for a lab whose stations have CPUs of their
// own, its processes placed there (topology.Lab.PinStations). It is the
// one bring-up of lvslab up, the benchmarks and the suites. On error
// nothing is left behind; otherwise Close tears everything down, or
// Detach leaves a supervised lab running.
func Up(ctx context.Context, spec *topology.Spec, o UpOptions) (_ *Lab, err error) {
	if err := o.Check(spec); err != nil {
		return nil, err
	}
	t, err := topology.Build(ctx, spec)
	if err != nil {
		return nil, err
	}
	lab := &Lab{Lab: t}
	defer func() {
		if err != nil {
			err = errors.Join(err, lab.Close())
		}
	}()
	name := t.Spec.Name
	if o.Supervise {
		if o.Pair != nil && t.Spec.IsHA() {
			if err := o.Pair.Save(name); err != nil {
				return nil, err
			}
		}
		if err := StartSupervisor(ctx, name, o.Servers); err != nil {
			return nil, err
		}
	} else if err := lab.startServers(o.Servers); err != nil {
		return nil, err
	}
	switch {
	case t.Spec.IsHA() && o.Pair != nil:
		wait, cancel := context.WithTimeout(ctx, masterWait)
		lab.Master, err = o.Pair.WaitMaster(wait, t)
		cancel()
		if err != nil {
			log, _ := os.ReadFile(topology.StateFile(name, supervisorLog))
			return nil, fmt.Errorf("%w; the supervisor's log: %s", err, strings.TrimSpace(string(log)))
		}
	case !t.Spec.IsHA() && t.Spec.Mode.Balanced() && !o.NoDirector:
		if lab.IPVS, err = StartDirector(t, o.Director); err != nil {
			return nil, err
		}
	}
	if lab.Notes, err = t.PinStations(); err != nil {
		return nil, err
	}
	return lab, nil
}
