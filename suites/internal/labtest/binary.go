//go:build linux

package labtest

import (
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
)

// Binary is the lvslab command under test: $LVSLAB_BIN (make test builds
// it), or built here for the current container. It lives in a
// world-readable directory so that a spec can run it as another user.
func Binary() string {
	GinkgoHelper()
	if bin := os.Getenv("LVSLAB_BIN"); bin != "" {
		abs, err := filepath.Abs(bin)
		Expect(err).NotTo(HaveOccurred())
		return abs
	}
	dir, err := os.MkdirTemp("", "lvslab-cli-")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(os.RemoveAll, dir)
	Expect(os.Chmod(dir, 0o755)).To(Succeed())
	built, err := gexec.Build("github.com/lvslab/lvslab/cmd/lvslab")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(gexec.CleanupBuildArtifacts)
	data, err := os.ReadFile(built)
	Expect(err).NotTo(HaveOccurred())
	bin := filepath.Join(dir, "lvslab")
	Expect(os.WriteFile(bin, data, 0o755)).To(Succeed())
	return bin
}
