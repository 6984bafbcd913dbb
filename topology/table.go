//go:build linux

package topology

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteNodes writes the lab's nodes as lvslab up and status show them:
// each node's role, namespace and addresses by segment, and the VIP.
func (s *Spec) WriteNodes(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tROLE\tNAMESPACE\tADDRESSES")
	for _, n := range s.Nodes {
		var addrs []string
		for _, l := range n.Links {
			for _, a := range l.IPv4 {
				addrs = append(addrs, l.Segment+":"+a.String())
			}
			for _, a := range l.IPv6 {
				addrs = append(addrs, l.Segment+":"+a.String())
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", n.Name, n.Role, namespaceName(s.Name, n.Name), strings.Join(addrs, " "))
	}
	fmt.Fprintf(tw, "vip\t\t\t%s %s port %d\n", s.VIP.IPv4, s.VIP.IPv6, s.VIP.Port)
	return tw.Flush()
}
