//go:build linux

package harness

import (
	"fmt"
	"os/exec"
	"strings"

	"github.com/lvslab/lvslab/topology"
)

// Nft runs an nft script inside a node (the nft tool loads big rule sets
// in one transaction, which google/nftables would take rule by rule).
func Nft(n *topology.Node, script string) error {
	return n.Do(func() error {
		cmd := exec.Command("nft", "-f", "-")
		cmd.Stdin = strings.NewReader(script)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("nft in %s: %v: %s", n.Name, err, strings.TrimSpace(string(out)))
		}
		return nil
	})
}
