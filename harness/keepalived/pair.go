//go:build linux

package keepalived

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"

	"github.com/lvslab/lvslab/harness"
	"github.com/lvslab/lvslab/topology"
)

// Pair is a running director pair: keepalived in both directors of a lab.
type Pair struct {
	Lab       *topology.Lab
	Options   Options
	Directors []*Director
	// EventLog holds what both directors' keepalived notified.
	*EventLog
}

// Director is one director of a pair: its IPVS handle and its keepalived.
type Director struct {
	*harness.Director
	// Keepalived is its keepalived.
	Keepalived *Daemon
	pair       *Pair
	Priority   int
	files      directorFiles
	fifos      []*os.File
}

// Start prepares a pair (Open) and starts keepalived in both directors at
// once, as a pair booted together would. It returns at once: the election
// takes a Master_Down_Interval (WaitMaster). On error nothing it started
// is left running.
func Start(lab *topology.Lab, o Options) (_ *Pair, err error) {
	p, err := Open(lab, o)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, p.Close())
		}
	}()
	var daemons []*Daemon
	for _, d := range p.Directors {
		daemons = append(daemons, d.Keepalived)
	}
	if err := StartAll(daemons...); err != nil {
		return nil, err
	}
	return p, nil
}

// Open wires an HA lab for its mode, opens IPVS in both directors, sets
// each director's sysctls, writes and checks keepalived's configuration
// and opens the notify FIFOs, but starts no keepalived: Start each
// director in the order wanted (a master first, then its backup, is an
// election whose winner does not depend on how fast each started).
func Open(lab *topology.Lab, o Options) (_ *Pair, err error) {
	if !lab.Spec.IsHA() {
		return nil, fmt.Errorf("lab %s has %d director(s): keepalived runs a pair (use topology.PaperHA or --topology paper-ha)", lab.Spec.Name, len(lab.Directors()))
	}
	if o, err = o.withDefaults(); err != nil {
		return nil, err
	}
	if _, err := harness.MethodOf(lab.Spec.Mode); err != nil {
		return nil, fmt.Errorf("lab %s: %w", lab.Spec.Name, err)
	}
	if _, err := exec.LookPath("keepalived"); err != nil {
		return nil, errors.New("keepalived is not installed: install it (apt-get install keepalived; ci/deps.sh does)")
	}
	if err := harness.Wire(lab, lab.Spec.Mode); err != nil {
		return nil, err
	}
	p := &Pair{Lab: lab, Options: o}
	defer func() {
		if err != nil {
			err = errors.Join(err, p.Close())
		}
	}()
	if p.EventLog, err = NewEventLog(topology.StateFile(lab.Spec.Name, EventsFile)); err != nil {
		return p, err
	}
	for i, n := range lab.Directors() {
		d := &Director{pair: p, Priority: o.Priorities[i], files: filesOf(lab.Spec.Name, n.Name)}
		p.Directors = append(p.Directors, d)
		if err := d.open(n); err != nil {
			return p, err
		}
		if err := d.openFifos(); err != nil {
			return p, err
		}
	}
	if err := harness.Verify(lab, lab.Spec.Mode); err != nil {
		return p, fmt.Errorf("lab %s is not wired for %s:\n%w", lab.Spec.Name, lab.Spec.Mode, err)
	}
	for _, d := range p.Directors {
		if err := d.writeConfig(); err != nil {
			return p, err
		}
		if err := d.checkConfig(); err != nil {
			return p, err
		}
	}
	return p, nil
}

// open opens IPVS in the director's namespace and sets its sysctls; the
// virtual service is keepalived's to add.
func (d *Director) open(n *topology.Node) error {
	spec, o := d.pair.Lab.Spec, d.pair.Options
	vip := harness.Service{Protocol: "tcp", Addr: spec.VIP.IPv4, Port: spec.VIP.Port, Scheduler: o.Scheduler, Persistence: o.Persistence}
	dir, err := harness.OpenManagedDirector(n, spec, vip, o.Sysctls)
	if err != nil {
		return err
	}
	d.Director = dir
	if d.Keepalived == nil {
		d.Keepalived = &Daemon{Lab: spec.Name, Role: processRole + n.Name, Files: d.files.DaemonFiles}
	}
	d.Keepalived.Node = n
	return nil
}

// Name is the director's node name.
func (d *Director) Name() string { return d.Node.Name }

// Close stops keepalived in both directors (gracefully, then by force),
// stops reading the FIFOs and releases the IPVS handles. The lab's state
// directory, with the FIFOs, goes with the lab.
func (p *Pair) Close() error {
	errs := make([]error, len(p.Directors))
	var wg sync.WaitGroup
	for i, d := range p.Directors {
		wg.Go(func() { errs[i] = d.Stop() })
	}
	wg.Wait()
	for _, d := range p.Directors {
		for _, f := range d.fifos {
			f.Close()
		}
		d.fifos = nil
		if d.Director != nil {
			d.Director.Close()
		}
	}
	if p.EventLog != nil {
		errs = append(errs, p.EventLog.Close())
	}
	return errors.Join(errs...)
}

// Director returns the pair's director of that name, or nil.
func (p *Pair) Director(name string) *Director {
	for _, d := range p.Directors {
		if d.Name() == name {
			return d
		}
	}
	return nil
}

// Peer is the other director of the pair.
func (p *Pair) Peer(d *Director) *Director {
	for _, o := range p.Directors {
		if o != d {
			return o
		}
	}
	return nil
}
