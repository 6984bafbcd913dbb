//go:build linux

package bench

import (
	"fmt"
	"strings"

	"github.com/lvslab/lvslab/harness"
	"github.com/lvslab/lvslab/topology"
)

// SlowDirector makes a lab's director slower on purpose: n nftables rules
// that every packet entering it must be compared with and none matches.
// The cost grows with n like a long firewall's would, on every forwarding
// path (routed, NAT, DR and TUN alike), and the table is the lab's own, so
// it goes with the director's namespace.
func SlowDirector(lab *topology.Lab, n int) error {
	d := lab.Director()
	if d == nil {
		return fmt.Errorf("lab %s has no director to slow down", lab.Spec.Name)
	}
	var b strings.Builder
	b.WriteString("table ip lvslab_slow {\n chain pre {\n  type filter hook prerouting priority -300; policy accept;\n")
	for i := range n {
		// Never matches: no lab traffic goes to this address.
		fmt.Fprintf(&b, "  ip daddr 203.0.113.250 tcp dport %d counter\n", 1+i%65535)
	}
	b.WriteString(" }\n}\n")
	if err := harness.Nft(d, b.String()); err != nil {
		return fmt.Errorf("slow down the director of %s: %w", lab.Spec.Name, err)
	}
	return nil
}
