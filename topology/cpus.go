//go:build linux

package topology

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/lvslab/lvslab/internal/proc"
)

// The machine model: a node given CPUs of its own (NodeSpec.CPUs) is a
// station, one machine of the paper's lab. On Linux a veth transmit is
// received on the sender's CPU (veth_xmit → __netif_rx queues the packet to
// the current CPU's backlog), so without steering a director's forwarding
// and IPVS work runs on whichever CPU its peers happen to use, and no node
// ever runs out of a CPU of its own. Build therefore steers the receive
// processing of every link of a placed node to its CPUs with RPS
// (/sys/class/net/DEV/queues/rx-0/rps_cpus, the kernel's
// Documentation/networking/scaling.rst), both the node's end of the veth
// and the bridge port that leads to it, so that what a node sends is
// bridged on its own CPUs. PinStations then places the IPVS estimator
// kthreads (net.ipv4.vs.est_cpulist, Linux 6.2 and later) and the
// processes that serve the lab.

// MaxCPU bounds a CPU number in a topology.
const MaxCPU = 4096

// CPUList is a set of CPU numbers, written like the kernel's cpulist
// format ("0-2,5"), sorted and without duplicates.
type CPUList []int

// ParseCPUList reads "0-2,5"; an empty string is the empty list.
func ParseCPUList(s string) (CPUList, error) {
	var out CPUList
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		b := a
		if err == nil && isRange {
			b, err = strconv.Atoi(hi)
		}
		if err != nil || a < 0 || b < a || b >= MaxCPU {
			return nil, fmt.Errorf("cpu list %q: %q is not a CPU number or range (e.g. 0-2,5; CPUs 0 to %d)", s, part, MaxCPU-1)
		}
		for c := a; c <= b; c++ {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	if len(slices.Compact(slices.Clone(out))) != len(out) {
		return nil, fmt.Errorf("cpu list %q names a CPU twice", s)
	}
	return out, nil
}

// String writes the list in cpulist format.
func (c CPUList) String() string {
	var parts []string
	for i := 0; i < len(c); {
		j := i
		for j+1 < len(c) && c[j+1] == c[j]+1 {
			j++
		}
		if j == i {
			parts = append(parts, strconv.Itoa(c[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", c[i], c[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

// MarshalText writes the cpulist form, so that JSON and YAML hold "0-2".
func (c CPUList) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText reads the cpulist form.
func (c *CPUList) UnmarshalText(b []byte) error {
	l, err := ParseCPUList(string(b))
	*c = l
	return err
}

// Mask is the list as the kernel's hexadecimal CPU bitmap (rps_cpus):
// 32-bit words, most significant first, separated by commas.
func (c CPUList) Mask() string {
	if len(c) == 0 {
		return "0"
	}
	words := make([]uint32, c[len(c)-1]/32+1)
	for _, cpu := range c {
		words[cpu/32] |= 1 << (cpu % 32)
	}
	var parts []string
	for i := len(words) - 1; i >= 0; i-- {
		parts = append(parts, fmt.Sprintf("%08x", words[i]))
	}
	return strings.Join(parts, ",")
}

func (c CPUList) set() *unix.CPUSet {
	var s unix.CPUSet
	for _, cpu := range c {
		s.Set(cpu)
	}
	return &s
}

// overlaps reports whether c and o share a CPU.
func (c CPUList) overlaps(o CPUList) bool {
	for _, x := range c {
		if slices.Contains(o, x) {
			return true
		}
	}
	return false
}

// checkCPUs is Plan's rule for placed nodes: a station's CPUs are its own
// or shared whole with other nodes, never in part, so that the CPU time of
// each station can be told apart.
func checkCPUs(nodes []NodeSpec) error {
	var errs []error
	for i, a := range nodes {
		if l, err := ParseCPUList(a.CPUs.String()); err != nil || !slices.Equal(l, a.CPUs) {
			errs = append(errs, fmt.Errorf("node %s: cpus %v: give each CPU (0 to %d) once, in order", a.Name, []int(a.CPUs), MaxCPU-1))
			continue
		}
		for _, b := range nodes[i+1:] {
			if a.CPUs.overlaps(b.CPUs) && !slices.Equal(a.CPUs, b.CPUs) {
				errs = append(errs, fmt.Errorf("nodes %s (cpus %s) and %s (cpus %s) share some CPUs but not all: give them the same list or lists apart, so each station's CPU time can be told apart",
					a.Name, a.CPUs, b.Name, b.CPUs))
			}
		}
	}
	return errors.Join(errs...)
}

// MinIsolateCPUs is the fewest CPUs Isolate splits: the client, the
// director and the rest need one each.
const MinIsolateCPUs = 3

// Isolate gives each node of s its station's share of cpus (the CPUs of
// this machine, or of the VM), the split `--isolate` makes: the director
// one CPU of its own and the router another, the client and the real
// servers (one station, the server farm) the rest in halves. Three CPUs
// give the client, the director and the router with the real servers one
// each. The client is on the first CPU, which also takes the machine's
// housekeeping (the console, timers).
func Isolate(s *Spec, cpus CPUList) error {
	if len(cpus) < MinIsolateCPUs {
		return fmt.Errorf("isolating the stations needs at least %d CPUs (client, director, the rest), got %d (%s)", MinIsolateCPUs, len(cpus), cpus)
	}
	split := map[Role]CPUList{RoleClient: {cpus[0]}, RoleDirector: {cpus[1]}, RoleRouter: {cpus[2]}, RoleRealServer: {cpus[2]}}
	if len(cpus) > 3 {
		others := append(CPUList{cpus[0]}, cpus[3:]...)
		half := (len(others) + 1) / 2
		split[RoleClient], split[RoleRealServer] = others[:half], others[half:]
	}
	for i := range s.Nodes {
		s.Nodes[i].CPUs = slices.Clone(split[s.Nodes[i].Role])
		slices.Sort(s.Nodes[i].CPUs)
	}
	return nil
}

// Station is one machine of the model: the nodes that share a CPU list.
type Station struct {
	Name  string   `json:"name"`
	Nodes []string `json:"nodes"`
	CPUs  CPUList  `json:"cpus"`
}

// Stations groups a planned spec's placed nodes by CPU list, in the order
// of their first node. A station of one node is named after it; one of
// several real servers is "servers"; others join their names with "+".
func Stations(s *Spec) []Station {
	var out []Station
	for _, n := range s.Nodes {
		if len(n.CPUs) == 0 {
			continue
		}
		i := slices.IndexFunc(out, func(st Station) bool { return slices.Equal(st.CPUs, n.CPUs) })
		if i < 0 {
			out = append(out, Station{CPUs: n.CPUs})
			i = len(out) - 1
		}
		out[i].Nodes = append(out[i].Nodes, n.Name)
	}
	for i := range out {
		out[i].Name = stationName(s, out[i].Nodes)
	}
	return out
}

func stationName(s *Spec, nodes []string) string {
	if len(nodes) == 1 {
		return nodes[0]
	}
	var parts []string
	servers := false
	for _, name := range nodes {
		if n, _ := s.Node(name); n.Role == RoleRealServer {
			if !servers {
				parts = append(parts, "servers")
			}
			servers = true
			continue
		}
		parts = append(parts, name)
	}
	return strings.Join(parts, "+")
}

// StationOf returns the station a node belongs to.
func StationOf(stations []Station, node string) (Station, bool) {
	for _, st := range stations {
		if slices.Contains(st.Nodes, node) {
			return st, true
		}
	}
	return Station{}, false
}

// OnlineCPUs are the CPUs this machine has online.
func OnlineCPUs() (CPUList, error) {
	data, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		return nil, fmt.Errorf("read the online CPUs: %w", err)
	}
	return ParseCPUList(strings.TrimSpace(string(data)))
}

// checkOnline makes sure every CPU a node names exists here: Build checks
// it before it makes anything.
func checkOnline(s *Spec) error {
	if !slices.ContainsFunc(s.Nodes, func(n NodeSpec) bool { return len(n.CPUs) > 0 }) {
		return nil
	}
	online, err := OnlineCPUs()
	if err != nil {
		return err
	}
	for _, n := range s.Nodes {
		for _, c := range n.CPUs {
			if !slices.Contains(online, c) {
				return fmt.Errorf("node %s: cpu %d is not online on this machine (online: %s): give cpus within them", n.Name, c, online)
			}
		}
	}
	return nil
}

// steerReceive writes every placed node's CPUs as the RPS mask of its
// links, in its namespace, and of the bridge ports that lead to them, in
// the switch namespace.
func (l *Lab) steerReceive() error {
	placed := false
	for _, n := range l.Nodes {
		placed = placed || len(n.CPUs) > 0
	}
	if !placed {
		return nil
	}
	if err := checkOnline(l.Spec); err != nil {
		return err
	}
	ports := map[string]string{}
	var errs []error
	for _, n := range l.Nodes {
		if len(n.CPUs) == 0 {
			continue
		}
		devs := map[string]string{}
		for _, ls := range n.Links {
			devs[ls.Dev()] = n.CPUs.Mask()
			ports[n.Name+"-"+ls.Segment] = n.CPUs.Mask()
		}
		errs = append(errs, n.writeRPS(devs))
	}
	errs = append(errs, l.sw.writeRPS(ports))
	return errors.Join(errs...)
}

// writeRPS writes RPS masks (device → mask) of the node's devices.
func (n *Node) writeRPS(masks map[string]string) error {
	return n.withSysfs(func(sys string) error {
		for dev, mask := range masks {
			path := filepath.Join(sys, "class/net", dev, "queues/rx-0/rps_cpus")
			if err := os.WriteFile(path, []byte(mask), 0o644); err != nil {
				return fmt.Errorf("steer receive processing of %s in %s to cpus %s: %w (the kernel needs CONFIG_RPS)", dev, n.Namespace, mask, err)
			}
		}
		return nil
	})
}

// RPS reads the RPS mask of one of the node's devices.
func (n *Node) RPS(dev string) (string, error) {
	var mask string
	err := n.withSysfs(func(sys string) error {
		data, err := os.ReadFile(filepath.Join(sys, "class/net", dev, "queues/rx-0/rps_cpus"))
		mask = strings.TrimSpace(string(data))
		return err
	})
	return mask, err
}

// withSysfs runs fn with the node's own view of /sys. A sysfs mount shows
// the network devices of the namespace it was mounted from, so fn runs on
// a thread that enters the node's network namespace, unshares its mount
// namespace and mounts sysfs there. That thread is never given back to
// the runtime: it ends with this call.
func (n *Node) withSysfs(fn func(sys string) error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread's namespaces change for good
		if err := netns.Set(n.ns); err != nil {
			errc <- fmt.Errorf("enter namespace %s: %w", n.Namespace, err)
			return
		}
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			errc <- fmt.Errorf("unshare the mount namespace in %s: %w", n.Namespace, err)
			return
		}
		// Nothing mounted here may reach the machine's own mounts.
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			errc <- fmt.Errorf("make mounts private in %s: %w", n.Namespace, err)
			return
		}
		if err := unix.Mount("sysfs", "/sys", "sysfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
			errc <- fmt.Errorf("mount sysfs for %s: %w", n.Namespace, err)
			return
		}
		errc <- safeCall(func() error { return fn("/sys") })
	}()
	return <-errc
}

// PinStations places what serves each station once the lab is served:
// every process recorded in the lab's state (the supervisor of its real
// servers) goes to the real servers' CPUs, and the director's IPVS
// estimator kthreads to the director's (net.ipv4.vs.est_cpulist, from
// Linux 6.2; earlier kernels run the estimator from a timer, which cannot
// be placed, and a note says so). Nodes without CPUs are left alone.
func (l *Lab) PinStations() (notes []string, err error) {
	var servers CPUList
	for _, n := range l.RealServers() {
		servers = append(servers, n.CPUs...)
	}
	slices.Sort(servers)
	servers = slices.Compact(servers)
	if len(servers) > 0 {
		for _, p := range Processes(l.Spec.Name) {
			if err := PinProcess(p.PID, servers); err != nil {
				return notes, fmt.Errorf("pin the %s of lab %s to cpus %s: %w", p.Role, l.Spec.Name, servers, err)
			}
		}
	}
	if d := l.Director(); d != nil && len(d.CPUs) > 0 && l.Spec.Mode.Balanced() {
		const key = "net.ipv4.vs.est_cpulist"
		if _, err := d.Sysctl(key); err != nil {
			notes = append(notes, "IPVS estimator not placed: this kernel has no "+key+" (before Linux 6.2 the estimator runs from a timer)")
		} else if err := d.SetSysctl(key, d.CPUs.String()); err != nil {
			return notes, err
		}
	}
	return notes, nil
}

// PinProcess binds every thread of a process to cpus. Threads it starts
// later inherit the binding from the thread that starts them.
func PinProcess(pid int, cpus CPUList) error {
	return eachThread(pid, func(tid int) error {
		if err := unix.SchedSetaffinity(tid, cpus.set()); err != nil {
			return fmt.Errorf("bind thread %d of process %d to cpus %s: %w", tid, pid, cpus, err)
		}
		return nil
	})
}

// BatchSelf puts every thread of this process under SCHED_BATCH, which
// threads and processes it starts later inherit: the scheduler then lets
// a woken thread wait for the running one to block or use up its slice
// instead of preempting it (sched(7)). Where stations share CPUs, wake-up
// preemption makes the number of context switches per request, and so
// the throughput, vary from run to run with no change in the system.
func BatchSelf() error {
	pid := os.Getpid()
	return eachThread(pid, func(tid int) error {
		if err := unix.SchedSetAttr(tid, &unix.SchedAttr{Policy: unix.SCHED_BATCH}, 0); err != nil {
			return fmt.Errorf("set SCHED_BATCH on thread %d of process %d: %w", tid, pid, err)
		}
		return nil
	})
}

// eachThread calls do once for every thread of a process, until a pass
// finds no new thread: one may start during the first. A thread that
// ended in between is no error.
func eachThread(pid int, do func(tid int) error) error {
	seen := map[int]bool{}
	for range 5 {
		tids, err := proc.Threads(pid)
		if err != nil {
			return err
		}
		fresh := false
		for _, tid := range tids {
			if seen[tid] {
				continue
			}
			fresh, seen[tid] = true, true
			if err := do(tid); err != nil && !errors.Is(err, unix.ESRCH) {
				return err
			}
		}
		if !fresh {
			return nil
		}
	}
	return nil
}

// PinSelf binds this process to cpus and lets the Go runtime run that
// many threads at once.
func PinSelf(cpus CPUList) error {
	if err := PinProcess(os.Getpid(), cpus); err != nil {
		return err
	}
	runtime.GOMAXPROCS(len(cpus))
	return nil
}

// IsolateOnline is Isolate over this machine's online CPUs: the machine
// model of lvslab up --isolate and of the benchmark.
func IsolateOnline(s *Spec) error {
	cpus, err := OnlineCPUs()
	if err != nil {
		return err
	}
	return Isolate(s, cpus)
}
