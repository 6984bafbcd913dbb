//go:build linux

package vm

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/cavaliergopher/cpio"
)

// BootModules reach the host's files: virtio PCI transport, 9p over
// virtio, and overlayfs for the writable view.
var BootModules = []string{"virtio_pci", "9pnet_virtio", "9p", "overlay"}

// SuiteModules are loaded before the command: IPVS and every scheduler,
// tunnels, veth, bridge, netem, conntrack.
var SuiteModules = []string{
	"ip_vs", "ip_vs_rr", "ip_vs_wrr", "ip_vs_lc", "ip_vs_wlc", "ip_vs_fo", "ip_vs_ovf", "ip_vs_lblc", "ip_vs_lblcr",
	"ip_vs_dh", "ip_vs_sh", "ip_vs_mh", "ip_vs_sed", "ip_vs_nq",
	"ipip", "ip6_tunnel", "veth", "bridge", "sch_netem", "nf_conntrack", "nf_tables",
}

// moduleTrees are shipped whole so that anything the kernel asks for on
// demand (an nftables expression, a qdisc) can be loaded.
var moduleTrees = []string{"kernel/net/netfilter", "kernel/net/sched", "kernel/net/ipv4", "kernel/net/ipv6",
	"kernel/net/bridge", "kernel/drivers/net/veth.ko"}

// writeInitramfs writes a newc cpio archive: the init binary (also
// /sbin/modprobe), the guest's configuration and the modules it may need.
func writeInitramfs(w io.Writer, k *Kernel, cfg guestConfig, initBinary string) error {
	ix, err := ReadModuleIndex(k.Modules)
	if err != nil {
		return err
	}
	mods, err := shippedModules(ix, k.Release)
	if err != nil {
		return err
	}
	files := map[string]bool{}
	for _, m := range mods {
		files[ix.Files[m]] = true
	}

	cw := cpio.NewWriter(w)
	now := time.Unix(0, 0)
	dirs := map[string]bool{}
	mkdir := func(d string) error {
		var chain []string
		for ; d != "." && d != "/" && !dirs[d]; d = path.Dir(d) {
			chain = append(chain, d)
		}
		for i := len(chain) - 1; i >= 0; i-- {
			dirs[chain[i]] = true
			if err := cw.WriteHeader(&cpio.Header{Name: chain[i], Mode: cpio.TypeDir | 0o755, ModTime: now}); err != nil {
				return err
			}
		}
		return nil
	}
	add := func(name string, mode cpio.FileMode, data []byte) error {
		if err := mkdir(path.Dir(name)); err != nil {
			return err
		}
		if err := cw.WriteHeader(&cpio.Header{Name: name, Mode: mode, Size: int64(len(data)), ModTime: now}); err != nil {
			return err
		}
		_, err := cw.Write(data)
		return err
	}
	addFile := func(name, src string, mode cpio.FileMode) error {
		data, err := os.ReadFile(src)
		if err != nil {
			return fmt.Errorf("initramfs: %w", err)
		}
		return add(name, mode, data)
	}
	for _, d := range []string{"dev", "proc", "sys", "tmp", "sbin", "lvslab"} {
		if err := mkdir(d); err != nil {
			return err
		}
	}
	if err := addFile("init", initBinary, cpio.TypeReg|0o755); err != nil {
		return err
	}
	if err := add("sbin/modprobe", cpio.TypeSymlink|0o777, []byte("/init")); err != nil {
		return err
	}
	libs, err := initFiles(initBinary)
	if err != nil {
		return err
	}
	for _, lib := range libs {
		if err := addFile(strings.TrimPrefix(path.Clean(lib), "/"), lib, cpio.TypeReg|0o755); err != nil {
			return err
		}
	}
	conf, _ := json.Marshal(cfg)
	if err := add("lvslab/guest.json", cpio.TypeReg|0o644, conf); err != nil {
		return err
	}
	base := path.Join("lib/modules", k.Release)
	// Every index depmod wrote: lvslab reads the text ones, the host's
	// modprobe (run by ipvsadm inside the guest) the binary ones.
	indexes, _ := filepath.Glob(filepath.Join(k.Modules, "modules.*"))
	for _, idx := range indexes {
		if err := addFile(path.Join(base, filepath.Base(idx)), idx, cpio.TypeReg|0o644); err != nil {
			return err
		}
	}
	sorted := make([]string, 0, len(files))
	for f := range files {
		sorted = append(sorted, f)
	}
	sort.Strings(sorted)
	for _, f := range sorted {
		if err := addFile(path.Join(base, f), filepath.Join(k.Modules, f), cpio.TypeReg|0o644); err != nil {
			return err
		}
	}
	return cw.Close()
}

// shippedModules are the modules an initramfs carries, dependencies
// first: the boot modules (an error if the kernel lacks one), the suites'
// modules and the moduleTrees, each with what it needs.
func shippedModules(ix *ModuleIndex, release string) ([]string, error) {
	wanted := append(append([]string{}, BootModules...), SuiteModules...)
	under := ix.Under(moduleTrees...)
	sort.Strings(under)
	wanted = append(wanted, under...)
	var mods []string
	seen := map[string]bool{}
	for _, m := range wanted {
		order, err := ix.LoadOrder(m)
		if err != nil {
			if contains(BootModules, m) {
				return nil, fmt.Errorf("kernel %s cannot reach the host's files: %w", release, err)
			}
			continue // a module this kernel lacks; the guest reports it
		}
		for _, o := range order {
			if !seen[o] {
				seen[o] = true
				mods = append(mods, o)
			}
		}
	}
	return mods, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
