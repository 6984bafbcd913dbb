//go:build linux

package bench

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/lvslab/lvslab/internal/proc"
	"github.com/lvslab/lvslab/topology"
	"github.com/lvslab/lvslab/vm"
)

// Kernel work that no station owns (unbound kworkers, the RCU
// grace-period kthread, interrupts other than the stations' own) grows
// with the request rate, and the scheduler wakes it on an idle CPU: under
// the machine model, an idle station's. A station that did nothing for
// the requests was then charged for them (the router in direct mode,
// 0.52 [0.34, 0.62] ms per request: docs/findings.md). In the
// benchmark's own VM that work is therefore kept on the client's CPUs,
// the load generator's station, which the paper's question leaves out.
// Per-CPU kthreads and the stations' receive processing (RPS) stay where
// they are. On a host this would move the host's own kernel work, so it
// is refused there.

// housekeep puts the guest kernel's unbound work on cpus and says what
// it could not move.
func housekeep(cpus topology.CPUList) ([]string, error) {
	if !vm.InGuest() {
		return nil, errors.New("housekeeping moves the kernel's own work: it is for the benchmark's VM only")
	}
	var notes []string
	if err := os.WriteFile("/sys/devices/virtual/workqueue/cpumask", []byte(cpus.Mask()), 0o644); err != nil {
		notes = append(notes, fmt.Sprintf("unbound workqueues left on every CPU: %v", err))
	}
	irqs, _ := filepath.Glob("/proc/irq/*/smp_affinity_list")
	stuck := 0
	for _, f := range irqs {
		// Some interrupts cannot move (the timer, per-CPU ones): EIO.
		if os.WriteFile(f, []byte(cpus.String()), 0o644) != nil {
			stuck++
		}
	}
	if stuck > 0 {
		notes = append(notes, fmt.Sprintf("%d of %d interrupts could not move to the client's CPUs %s", stuck, len(irqs), cpus))
	}
	kthreads, err := proc.KernelThreads()
	if err != nil {
		return notes, err
	}
	for _, pid := range kthreads {
		// A per-CPU kthread refuses (EINVAL): it belongs where it is.
		if err := topology.PinProcess(pid, cpus); err != nil && !errors.Is(err, unix.EINVAL) {
			notes = append(notes, fmt.Sprintf("kernel thread %d left where it was: %v", pid, err))
		}
	}
	return notes, nil
}
