// Package vm is the VM runner: it boots a stock distribution kernel in
// QEMU, so that the IPVS suites and the benchmark run on a real ip_vs even
// where the host kernel has none. It fetches and caches kernels (the
// shipped list, fixtures/kernels.yaml), builds a small initramfs around
// the lvslab binary itself as PID 1, shares the host's root filesystem
// read-only into the guest (writable there through an overlay on tmpfs),
// runs one command, streams the console and returns the guest's exit
// status.
//
// Inside the guest, GuestMain is init: it loads modules (and answers the
// kernel's on-demand module requests as /sbin/modprobe), mounts the host's
// files, runs the command in a chroot at the host's working directory and
// powers off. For the machine model it also tells the host thread of each
// vCPU (QMP query-cpus-fast), that thread's CPU time, and caps chosen
// threads with a cgroup CPU quota. Nothing here changes the host beyond
// the kernel cache (/var/cache/lvslab), the output folder the caller names
// and, while a capped VM runs, a cgroup of its own (lvslab-vm-PID under
// the cpu controller), removed when QEMU ends or by the next run.
package vm
