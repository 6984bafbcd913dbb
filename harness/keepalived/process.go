//go:build linux

package keepalived

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/lvslab/lvslab/topology"
)

// directorFiles are one director's files in the lab's state directory.
type directorFiles struct {
	DaemonFiles
	VRRPFifo, LVSFifo string
}

func filesOf(lab, director string) directorFiles {
	f := func(suffix string) string { return topology.StateFile(lab, "keepalived-"+director+suffix) }
	return directorFiles{DaemonFiles: FilesIn(topology.StateFile(lab, ""), "keepalived-"+director),
		VRRPFifo: f("-vrrp.fifo"), LVSFifo: f("-lvs.fifo")}
}

// processRole begins the role each keepalived process is recorded with,
// followed by its director's name.
const processRole = "keepalived "

func (d *Director) writeConfig() error {
	conf, err := GenerateConfig(d.pair.Lab.Spec, d.Name(), d.pair.Options)
	if err != nil {
		return err
	}
	if err := os.WriteFile(d.files.Conf, []byte(conf), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", d.files.Conf, err)
	}
	return nil
}

// checkedConfigs are configurations keepalived -t accepted, by content:
// a configuration is checked once per process (each check forks keepalived).
var checkedConfigs sync.Map

// checkConfig has keepalived read the configuration (-t) inside the
// director, where its links exist, so that a mistake is named before
// anything runs.
func (d *Director) checkConfig() error {
	conf, err := os.ReadFile(d.files.Conf)
	if err != nil {
		return err
	}
	if _, ok := checkedConfigs.Load(string(conf)); ok {
		return nil
	}
	cmd := exec.Command("keepalived", "-t", "-f", d.files.Conf)
	var out []byte
	err = d.Node.Do(func() (err error) {
		out, err = cmd.CombinedOutput()
		return err
	})
	if err != nil {
		return fmt.Errorf("keepalived rejects %s (%v): %s", d.files.Conf, err, strings.TrimSpace(string(out)))
	}
	checkedConfigs.Store(string(conf), true)
	return nil
}

// Start starts keepalived in the director (again, after Stop or Crash).
func (d *Director) Start() error { return d.Keepalived.Start() }

// StartedAt is when keepalived was last started in the director.
func (d *Director) StartedAt() time.Time { return d.Keepalived.StartedAt() }

// Live says whether the director runs keepalived with its front link up:
// a director that could answer for the VIP.
func (d *Director) Live() bool {
	if d.Keepalived.Down() {
		return false
	}
	l, err := d.Node.Netlink().LinkByName(d.pair.Lab.Spec.FrontSegment())
	return err == nil && l.Attrs().Flags&net.FlagUp != 0
}

// Running says whether keepalived runs in the director.
func (d *Director) Running() bool { return d.Keepalived.Running() }

// Stop stops keepalived gracefully and waits for every process to end
// (Daemon.Stop).
func (d *Director) Stop() error { return d.Keepalived.Stop() }

// Log reads the director's keepalived log (its -l -D output).
func (d *Director) Log() string { return d.Keepalived.Log() }
