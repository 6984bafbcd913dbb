//go:build linux

package keepalived

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/lvslab/lvslab/harness"
	"github.com/lvslab/lvslab/topology"
)

// optionsFile in a lab's state directory asks its supervisor to run a
// keepalived pair with these options (lvslab up on an HA lab).
const optionsFile = "keepalived.json"

// SaveOptions records the pair a lab's supervisor must run; call it
// before harness.StartSupervisor.
func SaveOptions(lab string, o Options) error {
	if _, err := o.withDefaults(); err != nil {
		return err
	}
	data, err := json.MarshalIndent(o, "", "  ")
	if err != nil {
		return err
	}
	path := topology.StateFile(lab, optionsFile)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// readOptions reads what SaveOptions recorded; ok is false when the lab
// has no pair to run.
func readOptions(lab string) (o Options, ok bool, err error) {
	data, err := os.ReadFile(topology.StateFile(lab, optionsFile))
	if errors.Is(err, os.ErrNotExist) {
		return o, false, nil
	}
	if err == nil {
		err = json.Unmarshal(data, &o)
	}
	if err != nil {
		return o, false, fmt.Errorf("read the keepalived options of lab %s: %w", lab, err)
	}
	return o, true, nil
}

var _ harness.Supervised = RunSaved

// RunSaved runs the pair SaveOptions recorded for the lab, if it has one,
// until ctx ends; done is closed once keepalived stopped again. A pair
// that cannot start ends the supervisor (stop), its reason in the
// supervisor's log. lvslab supervise hands it to harness.Supervise.
func RunSaved(ctx context.Context, t *topology.Lab, stop func()) (done <-chan struct{}, err error) {
	o, ok, err := readOptions(t.Spec.Name)
	finished := make(chan struct{})
	if err != nil || !ok {
		close(finished)
		return finished, err
	}
	go func() {
		defer close(finished)
		p, err := Start(t, o)
		if err != nil {
			fmt.Fprintln(os.Stderr, "lvslab supervise: keepalived:", err)
			stop()
			return
		}
		<-ctx.Done()
		if err := p.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "lvslab supervise: keepalived:", err)
		}
	}()
	return finished, nil
}
