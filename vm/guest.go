//go:build linux

package vm

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/lvslab/lvslab/internal/proc"
)

// Paths inside the initramfs.
const (
	guestConfigPath = "/lvslab/guest.json"
	guestModprobe   = "/sbin/modprobe"
	guestModules    = "/lib/modules"
	// guestPreloaded holds the modules the initramfs carries.
	guestPreloaded = "/lvslab/modules"
	hostRootTag    = "hostroot"
	outTag         = "out"
)

// Console markers the host reads.
const (
	markerPrefix = "lvslab-guest: "
	markerBooted = markerPrefix + "booted"
	markerExit   = markerPrefix + "exit status "
	markerError  = markerPrefix + "error: "
)

// guestConfig is what the host tells the guest's init.
type guestConfig struct {
	Argv    []string `json:"argv"`
	Dir     string   `json:"dir"`
	Env     []string `json:"env"`
	Release string   `json:"release"`
	// BootFiles are the modules that reach the host's files and
	// PreloadFiles those loaded for the command, each in load order (paths
	// in the modules tree, under guestPreloaded in the initramfs).
	// Unavailable says which SuiteModules the kernel lacks (reported, not
	// fatal).
	BootFiles    []string `json:"boot_files"`
	PreloadFiles []string `json:"preload_files"`
	Unavailable  []string `json:"unavailable,omitempty"`
	// ModulesDir is the kernel's modules tree on the host (in the cache):
	// the guest reads it over the host share, so any module can be loaded.
	ModulesDir string `json:"modules_dir"`
	OutDir     string `json:"out_dir,omitempty"`
}

// IsGuest reports whether this process is lvslab running as the VM's init
// or as the modprobe the guest kernel calls: only lvslab's initramfs has
// its guest configuration, so a PID 1 in a container, or a binary a user
// named modprobe, is not taken for one.
func IsGuest() bool {
	if os.Getpid() != 1 && filepath.Base(os.Args[0]) != "modprobe" {
		return false
	}
	_, err := os.Stat(guestConfigPath)
	return err == nil
}

// InGuest reports whether this process runs inside lvslab's VM, as init
// or as the command it runs in a chroot (where the initramfs's files are
// out of sight): the kernel was booted with lvslab's own command line.
func InGuest() bool {
	data, err := os.ReadFile("/proc/cmdline")
	return err == nil && strings.TrimSpace(string(data)) == guestCmdline
}

// GuestMain is init (PID 1) of the VM, or its modprobe. It never returns
// as init: it powers the guest off.
func GuestMain() int {
	if filepath.Base(os.Args[0]) == "modprobe" {
		return modprobeMain(os.Args[1:])
	}
	code := 125
	if err := guestInit(&code); err != nil {
		fmt.Printf("\n%s%v\n", markerError, err)
	}
	fmt.Printf("\n%s%d\n", markerExit, code)
	unix.Sync()
	unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	select {}
}

func guestInit(code *int) error {
	if err := os.MkdirAll("/dev", 0o755); err != nil {
		return err
	}
	if err := unix.Mount("devtmpfs", "/dev", "devtmpfs", 0, ""); err != nil && !errors.Is(err, unix.EBUSY) {
		return fmt.Errorf("mount /dev: %w", err)
	}
	if c, err := os.OpenFile("/dev/console", os.O_RDWR, 0); err == nil {
		for fd := 0; fd < 3; fd++ {
			unix.Dup2(int(c.Fd()), fd)
		}
	}
	for _, m := range []struct{ src, dst, typ string }{{"proc", "/proc", "proc"}, {"sysfs", "/sys", "sysfs"}} {
		os.MkdirAll(m.dst, 0o755)
		if err := unix.Mount(m.src, m.dst, m.typ, 0, ""); err != nil {
			return fmt.Errorf("mount %s: %w", m.dst, err)
		}
	}
	data, err := os.ReadFile(guestConfigPath)
	if err != nil {
		return fmt.Errorf("read %s: %w", guestConfigPath, err)
	}
	var cfg guestConfig
	if err := json.Unmarshal(data, &cfg); err != nil {
		return fmt.Errorf("parse %s: %w", guestConfigPath, err)
	}
	// Modules the kernel asks for later (a scheduler named for the first
	// time, an nftables expression, a dummy link) come from the host's
	// modules tree, through us.
	if err := os.WriteFile("/proc/sys/kernel/modprobe", []byte(guestModprobe), 0o644); err != nil {
		return fmt.Errorf("set kernel modprobe helper: %w", err)
	}
	// The neighbour table's limits are the whole machine's, settable only
	// here, in the guest's first namespace: a lab whose director reaches
	// thousands of real-server addresses on its links (a Kubernetes-sized
	// rules table) overflowed the default 1,024 entries and dropped
	// packets at random. The guest is lvslab's own machine.
	for _, fam := range []string{"ipv4", "ipv6"} {
		for k, v := range map[string]string{"gc_thresh1": "8192", "gc_thresh2": "32768", "gc_thresh3": "65536"} {
			if err := os.WriteFile("/proc/sys/net/"+fam+"/neigh/default/"+k, []byte(v), 0o644); err != nil {
				return fmt.Errorf("size the neighbour table: %w", err)
			}
		}
	}
	for _, f := range cfg.BootFiles {
		if err := loadModuleFile(filepath.Join(guestPreloaded, f)); err != nil {
			return fmt.Errorf("load module %w", err)
		}
	}
	if err := mountHost(cfg); err != nil {
		return err
	}
	missing := cfg.Unavailable
	for _, f := range cfg.PreloadFiles {
		if err := loadModuleFile(filepath.Join(guestPreloaded, f)); err != nil {
			missing = append(missing, err.Error())
		}
	}
	// Nothing else brings loopback up in the guest, and commands expect
	// it: the ginkgo command's parallel processes report to it.
	if err := loopbackUp(); err != nil {
		return err
	}
	if err := holdReceiveTimestamps(); err != nil {
		return err
	}
	fmt.Printf("%s in %s (kernel %s)\n", markerBooted, uptime(), cfg.Release)
	if len(missing) > 0 {
		fmt.Printf("lvslab-guest: modules not loaded: %s\n", strings.Join(missing, "; "))
	}
	return runCommand(cfg, code)
}

func loopbackUp() error {
	lo, err := netlink.LinkByName("lo")
	if err == nil {
		err = netlink.LinkSetUp(lo)
	}
	if err != nil {
		return fmt.Errorf("bring the guest's loopback up: %w", err)
	}
	return nil
}

// holdReceiveTimestamps keeps the kernel's receive timestamps on for the
// guest's life, with a socket that asks for them and is never closed. A
// packet capture turning them on or off live-patches the receive path
// (netstamp_needed_key, net/core/dev.c); under multi-threaded TCG a vCPU
// ran the patch's int3 after the patch had completed and the guest kernel
// died ("Oops: int3" in netif_rx_internal, once on 6.12). Held on from
// boot, the key is patched once, before any command runs.
func holdReceiveTimestamps() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err == nil {
		err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	}
	if err != nil {
		return fmt.Errorf("hold the kernel's receive timestamps on: %w", err)
	}
	return nil
}

func uptime() string {
	data, _ := os.ReadFile("/proc/uptime")
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return "?"
	}
	return f[0] + "s"
}

// mountHost makes /newroot the host's root filesystem, read-only from the
// host and writable in the guest through an overlay on tmpfs.
func mountHost(cfg guestConfig) error {
	for _, d := range []string{"/host", "/rw", "/newroot"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := unix.Mount(hostRootTag, "/host", "9p", unix.MS_RDONLY,
		"trans=virtio,version=9p2000.L,msize=512000,cache=loose"); err != nil {
		return fmt.Errorf("mount the host's root (9p %s): %w", hostRootTag, err)
	}
	if err := unix.Mount("tmpfs", "/rw", "tmpfs", 0, "mode=0755"); err != nil {
		return fmt.Errorf("mount tmpfs: %w", err)
	}
	os.MkdirAll("/rw/upper", 0o755)
	os.MkdirAll("/rw/work", 0o755)
	if err := unix.Mount("overlay", "/newroot", "overlay", 0,
		"lowerdir=/host,upperdir=/rw/upper,workdir=/rw/work"); err != nil {
		return fmt.Errorf("mount overlay over the host's root: %w", err)
	}
	mounts := []struct{ src, dst, typ, opts string }{
		{"proc", "/proc", "proc", ""},
		{"sysfs", "/sys", "sysfs", ""},
		{"devtmpfs", "/dev", "devtmpfs", ""},
		{"devpts", "/dev/pts", "devpts", "newinstance,ptmxmode=0666"},
		// A fresh /run: no host namespaces or lab state leak in. /tmp stays
		// the host's (through the overlay): a checkout may live there.
		{"tmpfs", "/run", "tmpfs", "mode=0755"},
	}
	for _, m := range mounts {
		dst := filepath.Join("/newroot", m.dst)
		os.MkdirAll(dst, 0o755)
		if err := unix.Mount(m.src, dst, m.typ, 0, m.opts); err != nil {
			return fmt.Errorf("mount %s in the guest: %w", m.dst, err)
		}
	}
	// devtmpfs has no /dev/fd and friends (udev makes them); shells need them.
	for link, target := range map[string]string{"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0",
		"stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"} {
		os.Symlink(target, filepath.Join("/newroot/dev", link))
	}
	// Every module of the kernel, from the host's cache, where this init
	// (as the kernel's modprobe) and the host's own modprobe (which
	// ipvsadm and moby/ipvs call) look for them. The initramfs keeps only
	// the modules that reach the share.
	mods := filepath.Join(guestModules, cfg.Release)
	os.MkdirAll(mods, 0o755)
	if err := unix.Mount(filepath.Join("/host", cfg.ModulesDir), mods, "", unix.MS_BIND|unix.MS_RDONLY, ""); err != nil {
		return fmt.Errorf("bind the kernel's modules from the host's %s: %w", cfg.ModulesDir, err)
	}
	dst := filepath.Join("/newroot", mods)
	if err := os.MkdirAll(dst, 0o755); err == nil {
		if err := unix.Mount(mods, dst, "", unix.MS_BIND|unix.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("bind the kernel's modules into the guest: %w", err)
		}
	}
	if cfg.OutDir != "" {
		dst := filepath.Join("/newroot", cfg.OutDir)
		os.MkdirAll(dst, 0o755)
		if err := unix.Mount(outTag, dst, "9p", 0, "trans=virtio,version=9p2000.L,msize=512000"); err != nil {
			return fmt.Errorf("mount the output folder %s: %w", cfg.OutDir, err)
		}
	}
	return nil
}

// runCommand runs the command chrooted into the host's files, at the
// host's working directory, and reaps every orphan until it ends.
func runCommand(cfg guestConfig, code *int) error {
	path, err := lookPathIn("/newroot", cfg.Argv[0], cfg.Dir, cfg.Env)
	if err != nil {
		*code = 127
		return err
	}
	devnull, _ := os.Open("/dev/null")
	p, err := os.StartProcess(path, cfg.Argv, &os.ProcAttr{
		Dir:   cfg.Dir,
		Env:   cfg.Env,
		Files: []*os.File{devnull, os.Stdout, os.Stderr},
		Sys:   &syscall.SysProcAttr{Chroot: "/newroot", Setsid: true},
	})
	if err != nil {
		*code = 126
		return fmt.Errorf("start %s: %w", cfg.Argv[0], err)
	}
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, 0, nil)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("wait for %s: %w", cfg.Argv[0], err)
		}
		if pid == p.Pid {
			switch {
			case ws.Exited():
				*code = ws.ExitStatus()
			case ws.Signaled():
				*code = 128 + int(ws.Signal())
			}
			// Let orphans that still write to the console finish their line.
			time.Sleep(10 * time.Millisecond)
			return nil
		}
	}
}

// lookPathIn finds a command in the file tree at root, as the guest's
// chroot will: the kernel resolves the path after chroot, but Go's own
// lookup would search the initramfs.
func lookPathIn(root, name, dir string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		p := name
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		if st, err := os.Stat(filepath.Join(root, p)); err != nil || st.IsDir() {
			return "", fmt.Errorf("command %s not found (at %s): give the path of a program", name, p)
		}
		return p, nil
	}
	pathVar := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			pathVar = v
		}
	}
	for _, d := range filepath.SplitList(pathVar) {
		p := filepath.Join(d, name)
		if st, err := os.Stat(filepath.Join(root, p)); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("command %s not found in the guest's PATH (%s): give its path, like ./%s", name, pathVar, name)
}

// modprobeMain answers the kernel's request_module: "modprobe -q -- NAME".
func modprobeMain(args []string) int {
	var names []string
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			names = append(names, a)
		}
	}
	release := proc.KernelRelease()
	ix, err := ReadModuleIndex(filepath.Join(guestModules, release))
	if err != nil {
		fmt.Fprintln(os.Stderr, "modprobe:", err)
		return 1
	}
	status := 0
	for _, n := range names {
		mods := ix.Resolve(n)
		if len(mods) == 0 {
			status = 1
			continue
		}
		if err := loadModules(ix, mods...); err != nil {
			fmt.Fprintln(os.Stderr, "modprobe:", err)
			status = 1
		}
	}
	return status
}

// moduleCompressedFile is MODULE_INIT_COMPRESSED_FILE: the kernel
// decompresses a .ko.xz/.ko.zst itself (CONFIG_MODULE_DECOMPRESS).
const moduleCompressedFile = 4

// loadModules loads modules and their dependencies with finit_module.
func loadModules(ix *ModuleIndex, names ...string) error {
	order, err := ix.LoadOrder(names...)
	if err != nil {
		return err
	}
	for _, m := range order {
		if err := loadModuleFile(filepath.Join(ix.Dir, ix.Files[m])); err != nil {
			return fmt.Errorf("load module %w", err)
		}
	}
	return nil
}

// loadModuleFile loads one module file; one already loaded is no error.
func loadModuleFile(file string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	flags := 0
	if !strings.HasSuffix(file, ".ko") {
		flags = moduleCompressedFile
	}
	if err := unix.FinitModule(int(f.Fd()), "", flags); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("%s: %w", filepath.Base(file), err)
	}
	return nil
}
