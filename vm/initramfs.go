//go:build linux

package vm

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cavaliergopher/cpio"
)

// BootModules reach the host's files: virtio PCI transport, 9p over
// virtio, and overlayfs for the writable view.
var BootModules = []string{"virtio_pci", "9pnet_virtio", "9p", "overlay"}

// SuiteModules are loaded before the command, from the initramfs: IPVS
// and every scheduler, tunnels, veth, bridge, netem, conntrack. Any other
// module of the kernel is loaded from the host's copy when asked for.
var SuiteModules = []string{
	"ip_vs", "ip_vs_rr", "ip_vs_wrr", "ip_vs_lc", "ip_vs_wlc", "ip_vs_fo", "ip_vs_ovf", "ip_vs_lblc", "ip_vs_lblcr",
	"ip_vs_dh", "ip_vs_sh", "ip_vs_mh", "ip_vs_sed", "ip_vs_nq",
	"ipip", "ip6_tunnel", "veth", "bridge", "sch_netem", "nf_conntrack", "nf_tables",
}

// writeInitramfs writes a newc cpio archive: the init binary (also
// /sbin/modprobe), the guest's configuration, the modules that reach the
// host's files and the SuiteModules, each list in load order
// (cfg.BootFiles, cfg.PreloadFiles). Every other module, and depmod's
// indexes, are read from the cache over that share once it is mounted:
// the archive stays small whatever the kernel holds. (Loading the
// SuiteModules over the share instead took a second longer to boot under
// TCG: 5.4 s instead of 4.5 s to the guest's first line, debian-6.1.)
func writeInitramfs(w io.Writer, k *Kernel, cfg guestConfig, initBinary string) error {
	ix, err := ReadModuleIndex(k.Modules)
	if err != nil {
		return err
	}
	if cfg.BootFiles, err = moduleFiles(ix, BootModules); err != nil {
		return fmt.Errorf("kernel %s cannot reach the host's files: %w", k.Release, err)
	}
	loaded := map[string]bool{}
	for _, f := range cfg.BootFiles {
		loaded[f] = true
	}
	cfg.PreloadFiles, cfg.Unavailable = nil, nil
	for _, m := range SuiteModules {
		files, err := moduleFiles(ix, []string{m})
		if err != nil {
			cfg.Unavailable = append(cfg.Unavailable, err.Error()) // the guest reports it
			continue
		}
		for _, f := range files {
			if !loaded[f] {
				loaded[f] = true
				cfg.PreloadFiles = append(cfg.PreloadFiles, f)
			}
		}
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
	for _, f := range slices.Concat(cfg.BootFiles, cfg.PreloadFiles) {
		if err := addFile(path.Join(guestPreloaded, f), filepath.Join(k.Modules, f), cpio.TypeReg|0o644); err != nil {
			return err
		}
	}
	return cw.Close()
}

// moduleFiles are the files of modules and of what they need, in load
// order, relative to the modules tree.
func moduleFiles(ix *ModuleIndex, names []string) ([]string, error) {
	order, err := ix.LoadOrder(names...)
	if err != nil {
		return nil, err
	}
	files := make([]string, len(order))
	for i, m := range order {
		files[i] = ix.Files[m]
	}
	return files, nil
}
