// Package vm is the VM runner: it boots a stock distribution kernel in
// QEMU, so that the IPVS suites and the benchmark run on a real ip_vs even
// where the host kernel has none. It owns the kernel list
// (fixtures/kernels.yaml: each kernel pinned to its Debian package, or to
// every package of a split build, each with version and .deb SHA256),
// fetching a pinned kernel with an apt configuration of its own and
// unpacking it itself (plain files and directories only), and the kernel
// cache ($LVSLAB_CACHE/kernels, by default /var/cache/lvslab/kernels: one
// directory per build with every module, every file's SHA256 checked on
// each use). It builds a small initramfs around the lvslab
// binary itself as PID 1 (with its loader and libraries when it is
// dynamically linked), shares the host's root filesystem read-only into
// the guest (writable there through an overlay on tmpfs), runs one
// command, streams the console and returns the guest's exit status.
// lvslab vm's flags are RunFlags (flags.go).
//
// Inside the guest, GuestMain is init: it loads modules, mounts the host's
// files, binds the cached modules tree from them (and answers the kernel's
// on-demand module requests from it as /sbin/modprobe), runs the command in a chroot at the host's working directory and
// powers off. For the machine model it also tells the host thread of each
// vCPU (QMP query-cpus-fast), that thread's CPU time, and caps chosen
// threads with a cgroup CPU quota. Nothing here changes the host beyond
// the kernel cache (/var/cache/lvslab), the output folder the caller names
// and, while a capped VM runs, a cgroup of its own (lvslab-vm-PID under
// the cpu controller), removed when QEMU ends or by the next run; the
// host's apt sources and lists are never read or written.
//
// Linux only (QEMU with KVM or TCG, cgroups, the host's /proc): every
// file but this one is built for linux alone.
package vm
