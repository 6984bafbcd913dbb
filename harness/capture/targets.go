//go:build linux

package capture

import "github.com/lvslab/lvslab/topology"

// Targets reads NODE or NODE:LINK words against a lab (topology's
// ParseLinks: a node alone means every link it has).
func Targets(lab *topology.Lab, words []string) ([]Target, error) {
	links, err := lab.ParseLinks(words)
	if err != nil {
		return nil, err
	}
	out := make([]Target, len(links))
	for i, l := range links {
		out[i] = Target{Node: l.Node, Link: l.Link}
	}
	return out, nil
}
