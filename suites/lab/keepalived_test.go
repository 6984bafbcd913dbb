//go:build linux

package lab_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/lvslab/lvslab/harness/keepalived/conf"
)

// The reader's keyword table (harness/keepalived/conf) against the
// keepalived installed here: every keyword in it, written in its block,
// is one keepalived -t knows. (The IPVS suite's byo specs compare what
// the reader extracts with keepalived's own dump.)
var _ = Describe("the reader's keyword table", Label("byo"), func() {
	It("has only keywords the installed keepalived knows", func() {
		if _, err := exec.LookPath("keepalived"); err != nil {
			Fail("keepalived is not installed: install Debian's keepalived package (ci/deps.sh does)")
		}
		ns := "lvs-" + name("kw") + "-k"
		Expect(exec.Command("ip", "netns", "add", ns).Run()).To(Succeed())
		DeferCleanup(func() { Expect(exec.Command("ip", "netns", "delete", ns).Run()).To(Succeed()) })

		dir := GinkgoT().TempDir()
		unknown := regexp.MustCompile(`Unknown keyword '([^']*)'`)
		tops := 0
		for _, top := range topKeywords() {
			tops++
			file := filepath.Join(dir, top+".conf")
			Expect(os.WriteFile(file, []byte(keywordConfig(top)), 0o644)).To(Succeed())
			out, _ := exec.Command("ip", "netns", "exec", ns, "keepalived", "-t", "-f", file, "-i", "lb1").CombinedOutput()
			Expect(string(out)).NotTo(ContainSubstring("missing a parameter"), "the test's own file for %s stops keepalived early:\n%s", top, out)
			var names []string
			for _, m := range unknown.FindAllStringSubmatch(string(out), -1) {
				names = append(names, m[1])
			}
			Expect(names).To(BeEmpty(), "keepalived does not know these keywords of the reader's table in %s:\n%s", top, keywordConfig(top))
		}
		Expect(tops).To(BeNumerically(">", 20))
	})
})

func topKeywords() []string {
	var out []string
	for _, k := range conf.Keywords() {
		if len(k.Path) == 1 {
			out = append(out, k.Path[0])
		}
	}
	return out
}

// blockArgs name a block whose handler refuses one without a name or an
// address (and then skips it).
var blockArgs = map[string]string{
	"vrrp_instance": "VI_1", "vrrp_sync_group": "G", "track_group": "T", "vrrp_script": "s",
	"vrrp_track_process": "p", "bfd_instance": "b", "track_file": "f", "vrrp_track_file": "f",
	"virtual_server": "192.0.2.1 80", "real_server": "192.0.2.2 80", "virtual_server_group": "VSG",
}

// keywordConfig writes a top-level keyword with every keyword of its
// blocks: a plain one with the word "1", a block of values empty.
func keywordConfig(top string) string {
	var b strings.Builder
	var write func(path []string, indent string)
	kinds := map[string]conf.NodeKind{}
	children := map[string][]string{}
	for _, k := range conf.Keywords() {
		key := strings.Join(k.Path, "/")
		kinds[key] = k.Kind
		parent := strings.Join(k.Path[:len(k.Path)-1], "/")
		children[parent] = append(children[parent], k.Path[len(k.Path)-1])
	}
	write = func(path []string, indent string) {
		key := strings.Join(path, "/")
		kw := path[len(path)-1]
		switch kinds[key] {
		case conf.Block:
			fmt.Fprintf(&b, "%s%s %s {\n", indent, kw, blockArgs[kw])
			for _, c := range children[key] {
				write(append(path[:len(path):len(path)], c), indent+"  ")
			}
			fmt.Fprintf(&b, "%s}\n", indent)
		case conf.Values:
			fmt.Fprintf(&b, "%s%s %s {\n%s}\n", indent, kw, blockArgs[kw], indent)
		default:
			fmt.Fprintf(&b, "%s%s 1\n", indent, kw)
		}
	}
	write([]string{top}, "")
	return b.String()
}
