//go:build linux

package vm

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func writeIndex(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadOrderFollowsHardAndSoftDependencies(t *testing.T) {
	dir := writeIndex(t, map[string]string{
		"modules.dep": "kernel/net/ipvs/ip_vs.ko: kernel/net/nf_conntrack.ko kernel/net/nf_defrag_ipv6.ko kernel/lib/libcrc32c.ko\n" +
			"kernel/net/nf_conntrack.ko: kernel/net/nf_defrag_ipv6.ko kernel/lib/libcrc32c.ko\n" +
			"kernel/net/nf_defrag_ipv6.ko:\nkernel/lib/libcrc32c.ko:\nkernel/crypto/crc32c_generic.ko:\n" +
			"kernel/net/ipvs/ip_vs_mh.ko.xz: kernel/net/ipvs/ip_vs.ko kernel/net/nf_conntrack.ko kernel/net/nf_defrag_ipv6.ko kernel/lib/libcrc32c.ko\n",
		"modules.softdep": "softdep libcrc32c pre: crc32c\n",
		"modules.alias":   "alias crc32c crc32c_generic\nalias nft-chain-2-* nf_conntrack\n",
		"modules.builtin": "kernel/net/ipv6/ipv6.ko\n",
	})
	ix, err := ReadModuleIndex(dir)
	if err != nil {
		t.Fatal(err)
	}
	order, err := ix.LoadOrder("ip_vs_mh", "ipv6")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"crc32c_generic", "libcrc32c", "nf_defrag_ipv6", "nf_conntrack", "ip_vs", "ip_vs_mh"}
	if !reflect.DeepEqual(order, want) {
		t.Errorf("load order %v, want %v (soft deps first, built-ins left out)", order, want)
	}
	if got := ix.Resolve("nft-chain-2-nat"); !reflect.DeepEqual(got, []string{"nf_conntrack"}) {
		t.Errorf("alias resolved to %v", got)
	}
	if _, err := ix.LoadOrder("no_such"); err == nil || !strings.Contains(err.Error(), "no_such") {
		t.Errorf("missing module: %v", err)
	}
}

func TestKernelList(t *testing.T) {
	l, err := LoadKernels("")
	if err != nil {
		t.Fatal(err)
	}
	// From 5.10 LTS to the newest, a PREEMPT_RT build among them; only
	// the newest moves, and the default never does.
	for _, name := range []string{"debian-5.10", "debian-6.1", "debian-6.12", "debian-6.12-rt", "debian-sid"} {
		k, err := l.Find(name)
		if err != nil {
			t.Error(err)
		}
		if k.Moving != (name == "debian-sid") {
			t.Errorf("%s: moving %v", name, k.Moving)
		}
	}
	if def, _ := l.Find(l.Default); def.Name != "debian-6.1" || def.Moving {
		t.Errorf("default %s: the default must be a pinned, non-moving build", l.Default)
	}
	if sid, _ := l.Find("debian-sid"); len(sid.Packages) < 2 {
		t.Errorf("debian-sid is a split build: %+v", sid)
	}
	if _, err := l.Find("debian-9"); err == nil || !strings.Contains(err.Error(), "debian-5.10, debian-6.1, debian-6.12") {
		t.Errorf("unknown kernel: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "k.yaml")
	os.WriteFile(bad, []byte(strings.Replace(testList, "default: k1", "default: x", 1)), 0o644)
	if _, err := LoadKernels(bad); err == nil || !strings.Contains(err.Error(), `kernel "x" is not in the list`) {
		t.Errorf("bad default: %v", err)
	}
}

// CI's kernel matrix is the list: every kernel, and only the moving ones
// allowed to fail.
func TestWorkflowRunsEveryKernelOfTheList(t *testing.T) {
	data, err := os.ReadFile("../ci/github-actions.yml")
	if err != nil {
		t.Fatal(err)
	}
	var wf struct {
		Jobs map[string]struct {
			Name            string `yaml:"name"`
			ContinueOnError string `yaml:"continue-on-error"`
			Strategy        struct {
				Matrix struct {
					Kernel []string `yaml:"kernel"`
				} `yaml:"matrix"`
			} `yaml:"strategy"`
		} `yaml:"jobs"`
	}
	if err := yaml.Unmarshal(data, &wf); err != nil {
		t.Fatal(err)
	}
	l, _ := LoadKernels("")
	var names, moving []string
	for _, k := range l.Kernels {
		names = append(names, k.Name)
		if k.Moving {
			moving = append(moving, k.Name)
		}
	}
	job := wf.Jobs["vm"]
	if !reflect.DeepEqual(job.Strategy.Matrix.Kernel, names) {
		t.Errorf("the workflow's kernels %v, the list's %v", job.Strategy.Matrix.Kernel, names)
	}
	for _, m := range moving {
		if !strings.Contains(job.ContinueOnError, "'"+m+"'") || !strings.Contains(job.Name, "'"+m+"'") {
			t.Errorf("moving kernel %s: its job must be allowed to fail and say so in its name (continue-on-error %q, name %q)", m, job.ContinueOnError, job.Name)
		}
	}
}
