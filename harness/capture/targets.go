//go:build linux

package capture

import (
	"fmt"
	"slices"
	"strings"

	"github.com/lvslab/lvslab/topology"
)

// Targets reads NODE or NODE:LINK words against a lab: a node alone means
// every link it has. A link named twice is captured once.
func Targets(lab *topology.Lab, words []string) ([]Target, error) {
	if len(words) == 0 {
		return nil, fmt.Errorf("no link to capture: name NODE or NODE:LINK (nodes of lab %s: %s)", lab.Spec.Name, nodeNames(lab))
	}
	var out []Target
	seen := map[string]bool{}
	for _, w := range words {
		nodeName, link, hasLink := strings.Cut(w, ":")
		n := lab.Node(nodeName)
		if n == nil {
			return nil, fmt.Errorf("%q: lab %s has no node %q (its nodes: %s)", w, lab.Spec.Name, nodeName, nodeNames(lab))
		}
		links := linkNames(n)
		if hasLink {
			if !slices.Contains(links, link) {
				return nil, fmt.Errorf("%q: node %s has no link %q (its links: %s)", w, nodeName, link, strings.Join(links, ", "))
			}
			links = []string{link}
		}
		for _, l := range links {
			if key := nodeName + ":" + l; !seen[key] {
				seen[key] = true
				out = append(out, Target{Node: n, Link: l})
			}
		}
	}
	return out, nil
}

func linkNames(n *topology.Node) []string {
	var out []string
	for _, l := range n.Links {
		out = append(out, l.Segment)
	}
	return out
}

func nodeNames(lab *topology.Lab) string {
	var out []string
	for _, n := range lab.Nodes {
		out = append(out, n.Name)
	}
	return strings.Join(out, ", ")
}
