//go:build linux

package topology

import (
	"fmt"
	"slices"
	"strings"
)

// NodeLink is one link of one node, named "node:link".
type NodeLink struct {
	Node *Node
	Link string
}

func (l NodeLink) String() string { return l.Node.Name + ":" + l.Link }

// ParseLinks reads NODE or NODE:LINK words against the lab, as the
// commands that act on links take them: a node alone means every link it
// has. A link named twice is listed once.
func (l *Lab) ParseLinks(words []string) ([]NodeLink, error) {
	if len(words) == 0 {
		return nil, fmt.Errorf("no link named: say NODE or NODE:LINK (nodes of lab %s: %s)", l.Spec.Name, l.nodeNames())
	}
	var out []NodeLink
	seen := map[string]bool{}
	for _, w := range words {
		nodeName, link, hasLink := strings.Cut(w, ":")
		n := l.Node(nodeName)
		if n == nil {
			return nil, fmt.Errorf("%q: lab %s has no node %q (its nodes: %s)", w, l.Spec.Name, nodeName, l.nodeNames())
		}
		var links []string
		for _, ls := range n.Links {
			links = append(links, ls.Segment)
		}
		if hasLink {
			if !slices.Contains(links, link) {
				return nil, fmt.Errorf("%q: node %s has no link %q (its links: %s)", w, nodeName, link, strings.Join(links, ", "))
			}
			links = []string{link}
		}
		for _, name := range links {
			if key := nodeName + ":" + name; !seen[key] {
				seen[key] = true
				out = append(out, NodeLink{Node: n, Link: name})
			}
		}
	}
	return out, nil
}

func (l *Lab) nodeNames() string {
	var out []string
	for _, n := range l.Nodes {
		out = append(out, n.Name)
	}
	return strings.Join(out, ", ")
}
