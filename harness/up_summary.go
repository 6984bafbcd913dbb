//go:build linux

package harness

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/lvslab/lvslab/topology"
)

// WriteUpSummary writes what lvslab up built from spec: the lab, its
// nodes, switch and stations, the VRRP master of a pair, and how to enter,
// load and tear it down.
func WriteUpSummary(w io.Writer, spec *topology.Spec, lab *Lab, cfg ServerConfig, took time.Duration) error {
	fmt.Fprintf(w, "lab %s is up (%s, %d nodes, mode %s, real servers answer on port %d, took %s)\n\n",
		spec.Name, cfg, len(spec.Nodes), spec.Mode, spec.VIP.Port, took.Round(time.Millisecond))
	spec.WriteNodes(w)
	fmt.Fprintf(w, "\nswitch: %s\n", spec.Switch)
	for _, st := range topology.Stations(spec) {
		fmt.Fprintf(w, "station %s: cpus %s (%s)\n", st.Name, st.CPUs, strings.Join(st.Nodes, " "))
	}
	for _, n := range lab.Notes {
		fmt.Fprintln(w, "note: "+n)
	}
	if lab.Master != nil {
		fmt.Fprintf(w, "\nkeepalived runs in both directors; %s is the VRRP master and holds the VIP (lvslab status --name %s --ha)\n", lab.Master.Name, spec.Name)
	}
	client := spec.ByRole(topology.RoleClient)[0]
	fmt.Fprintf(w, "\nenter a node:   sudo ip netns exec lvs-%s-%s bash\n", spec.Name, client.Name)
	target := "direct"
	if spec.Mode.Balanced() {
		target = "vip"
	}
	fmt.Fprintf(w, "load it:        sudo lvslab load --name %s --target %s --clients 16 --duration 10s\n", spec.Name, target)
	_, err := fmt.Fprintf(w, "tear it down:   sudo lvslab down --name %s\n", spec.Name)
	return err
}
