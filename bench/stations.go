//go:build linux

package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lvslab/lvslab/internal/proc"
	"github.com/lvslab/lvslab/topology"
)

// How much CPU each station of a lab uses, measured around every
// measurement. On a host, a station's CPU time is the busy time of its
// CPUs (/proc/stat). In a VM under TCG the guest's own tick accounting
// sees no steal time: a vCPU the host did not run, or held back with a
// quota, still looks busy to the guest. So in the VM the host measures the
// CPU time of each station's vCPU threads instead: the guest prints a mark
// on its console before and after each measurement, the host samples the
// threads when it reads the mark, and the samples replace the guest's
// figures once the VM is done (vcpuSampler.merge).

// MachineStation is the name of the only station of a lab whose nodes have
// no CPUs of their own: the whole machine.
const MachineStation = "machine"

// StationUse is the CPU time one station used during a measurement.
type StationUse struct {
	Station    string  `json:"station"`
	CPUSeconds float64 `json:"cpu_s"`
	// Busy is CPUSeconds over the measurement's wall time and the
	// station's capacity (its CPUs, or its cap).
	Busy float64 `json:"busy"`
}

// Machine is the machine model a benchmark ran under: its stations,
// their caps and where their CPU times come from.
type Machine struct {
	Stations []topology.Station `json:"stations"`
	// Caps are the host CPU shares given to stations' vCPUs (VM only).
	Caps map[string]float64 `json:"caps,omitempty"`
	// Source says where the CPU times come from.
	Source string `json:"cpu_source"`
	// HostCPUs is the number of host CPUs every vCPU thread shares (VM only).
	HostCPUs int      `json:"host_cpus,omitempty"`
	Notes    []string `json:"notes,omitempty"`
}

// Capacity is how many CPUs' worth of work a station can do per second:
// its CPUs, or its cap in a VM.
func (p *Machine) Capacity(station string) float64 {
	if c, ok := p.Caps[station]; ok {
		return c
	}
	for _, st := range p.Stations {
		if st.Name == station {
			return float64(len(st.CPUs))
		}
	}
	return 0
}

// Sources of station CPU times.
const (
	SourceProcStat = "busy time of the station's CPUs (/proc/stat)"
	SourceVCPU     = "host CPU time of the station's vCPU threads (QMP query-cpus-fast, /proc/PID/task/TID/schedstat)"
)

// cpuIdle reads each CPU's time not spent on work so far: idle, iowait
// and steal. A station's busy time is the wall time of its CPUs less
// that: on a tickless kernel the idle time is kept exactly (the kernel
// clocks each idle period), where user and system time are only sampled
// at the tick, which a periodic load (an open-loop pacer) can alias.
func cpuIdle() (map[int]time.Duration, uint64, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return nil, 0, fmt.Errorf("read CPU times: %w", err)
	}
	idle, err := parseCPUIdle(data)
	return idle, parseSwitches(data), err
}

// parseSwitches reads the machine's context switches so far (the "ctxt"
// line): under TCG each switch between processes also flushes the
// emulated TLB, a cost that shows in the demands.
func parseSwitches(data []byte) uint64 {
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "ctxt "); ok {
			n, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

// userHZ is the unit of /proc/stat's times (USER_HZ) on every
// architecture QEMU and Linux run lvslab on.
const userHZ = 100

func parseCPUIdle(data []byte) (map[int]time.Duration, error) {
	out := map[int]time.Duration{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 9 || !strings.HasPrefix(f[0], "cpu") || f[0] == "cpu" {
			continue
		}
		cpu, err := strconv.Atoi(f[0][3:])
		if err != nil {
			continue
		}
		var ticks int64
		for _, i := range []int{4, 5, 8} { // idle iowait steal
			v, err := strconv.ParseInt(f[i], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("/proc/stat: %s: %w", f[0], err)
			}
			ticks += v
		}
		out[cpu] = time.Duration(ticks) * time.Second / userHZ
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("/proc/stat lists no CPU")
	}
	return out, nil
}

// stationMeter turns CPU times into station uses.
type stationMeter struct {
	stations []topology.Station
	mach     *Machine
	start    map[int]time.Duration
	switches uint64
	at       time.Time
	// marks, if set, receives the console marks of the VM protocol.
	marks io.Writer
	seq   *int
}

// machineStations is the one station of a lab without cpus: every CPU.
func machineStations() []topology.Station {
	cpus := make(topology.CPUList, runtime.NumCPU())
	if online, err := topology.OnlineCPUs(); err == nil {
		cpus = online
	} else {
		for i := range cpus {
			cpus[i] = i
		}
	}
	return []topology.Station{{Name: MachineStation, CPUs: cpus}}
}

// begin starts a measurement; end returns what each station used since,
// the marks that bracket it (0, 0 without marks) and the context switches.
func (m *stationMeter) begin() error {
	t, sw, err := cpuIdle()
	if err != nil {
		return err
	}
	m.start, m.switches, m.at = t, sw, time.Now()
	if m.marks != nil {
		*m.seq++
		fmt.Fprintf(m.marks, "%s%d\n", markPrefix, *m.seq)
	}
	return nil
}

func (m *stationMeter) end() (_ []StationUse, marks [2]int, switches uint64, window float64, _ error) {
	if m.marks != nil {
		*m.seq++
		fmt.Fprintf(m.marks, "%s%d\n", markPrefix, *m.seq)
		marks = [2]int{*m.seq - 1, *m.seq}
	}
	t, sw, err := cpuIdle()
	if err != nil {
		return nil, marks, 0, 0, err
	}
	elapsed := time.Since(m.at)
	wall := elapsed.Seconds()
	var out []StationUse
	for _, st := range m.stations {
		var busy time.Duration
		for _, c := range st.CPUs {
			busy += max(0, elapsed-(t[c]-m.start[c]))
		}
		u := StationUse{Station: st.Name, CPUSeconds: busy.Seconds()}
		if c := m.mach.Capacity(st.Name); c > 0 && wall > 0 {
			u.Busy = u.CPUSeconds / wall / c
		}
		out = append(out, u)
	}
	return out, marks, sw - m.switches, wall, nil
}

// markPrefix starts a console line that asks the host to sample the vCPU
// threads; the mark's number follows.
const markPrefix = "lvslab-bench-mark "

// HostSample is the host's reading at one mark.
type HostSample struct {
	Mark int       `json:"mark"`
	At   time.Time `json:"at"`
	// VCPU is each vCPU thread's CPU time so far, by guest CPU number.
	VCPU map[int]time.Duration `json:"vcpu"`
}

// vcpuSampler reads the vCPU threads' CPU time whenever a mark passes on
// the guest's console.
type vcpuSampler struct {
	mu      sync.Mutex
	pid     int
	threads map[int]int // guest CPU → host thread
	samples map[int]HostSample
	err     error
}

// sample records the threads' CPU time at a mark line; it reports
// whether the line was one.
func (s *vcpuSampler) sample(line string) bool {
	n, ok := strings.CutPrefix(line, markPrefix)
	if !ok {
		return false
	}
	mark, err := strconv.Atoi(strings.TrimSpace(n))
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil || s.threads == nil {
		return true
	}
	smp := HostSample{Mark: mark, At: time.Now(), VCPU: map[int]time.Duration{}}
	for cpu, tid := range s.threads {
		d, err := proc.ThreadCPUTime(s.pid, tid)
		if err != nil && s.err == nil {
			s.err = err
		}
		smp.VCPU[cpu] = d
	}
	s.samples[mark] = smp
	return true
}

// guestConsole is the host's side of a benchmark's console: it samples
// the vCPU threads at marks (dropping those lines) and gives the guest's
// progress lines the host's own time. Under -icount the guest's clock runs
// by executed instructions, several times faster than the host's, so the
// guest's own estimate would be off by that much; the share of the work
// done it prints is right.
type guestConsole struct {
	out     io.Writer
	sampler *vcpuSampler
	start   time.Time // when the guest's first step began
}

func (c *guestConsole) Write(p []byte) (int, error) {
	line := strings.TrimRight(string(p), "\r\n")
	if c.sampler.sample(line) {
		return len(p), nil
	}
	m := progressLine.FindStringSubmatch(line)
	if m == nil {
		return c.out.Write(p)
	}
	if c.start.IsZero() {
		c.start = time.Now()
	}
	elapsed := time.Since(c.start)
	pct, _ := strconv.Atoi(m[2])
	left := "estimating"
	if pct > 0 {
		left = "about " + time.Duration(float64(elapsed)*float64(100-pct)/float64(pct)).Round(time.Second).String() + " left"
	}
	fmt.Fprintf(c.out, "%s, %s elapsed, %s: %s\n", m[1], elapsed.Round(time.Second), left, m[3])
	return len(p), nil
}

// use is what each station's vCPUs used between two marks, and the
// host's wall time between them.
func (s *vcpuSampler) use(stations []topology.Station, mach *Machine, marks [2]int) ([]StationUse, float64, bool) {
	a, ok1 := s.samples[marks[0]]
	b, ok2 := s.samples[marks[1]]
	if !ok1 || !ok2 || marks[0] == marks[1] {
		return nil, 0, false
	}
	wall := b.At.Sub(a.At).Seconds()
	var out []StationUse
	for _, st := range stations {
		var cpu time.Duration
		for _, c := range st.CPUs {
			cpu += b.VCPU[c] - a.VCPU[c]
		}
		u := StationUse{Station: st.Name, CPUSeconds: cpu.Seconds()}
		if c := mach.Capacity(st.Name); c > 0 && wall > 0 {
			u.Busy = u.CPUSeconds / wall / c
		}
		out = append(out, u)
	}
	return out, wall, true
}

// merge replaces the guest's station figures of every
// measurement that marks bracket with the host's.
func (s *vcpuSampler) merge(r *Result) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Machine == nil {
		return nil
	}
	missing := 0
	for _, list := range [][]Trial{r.Trials, r.Latency, r.Light} {
		for i := range list {
			t := &list[i]
			if t.Marks == [2]int{} {
				continue
			}
			if use, wall, ok := s.use(r.Machine.Stations, r.Machine, t.Marks); ok {
				t.Stations, t.Window = use, wall
			} else {
				t.Stations, t.Window = nil, 0
				missing++
			}
		}
	}
	r.Machine.Source = SourceVCPU
	r.Machine.HostCPUs = runtime.NumCPU()
	if missing > 0 {
		r.Machine.Notes = append(r.Machine.Notes, fmt.Sprintf("%d measurements lost a console mark: their station times are left out", missing))
	}
	if s.err != nil {
		return fmt.Errorf("sample the vCPU threads: %w", s.err)
	}
	return nil
}

// stationHolding is the station a node has to itself or shares with
// others ("" if none: without the machine model no node has a station).
func stationHolding(m *Machine, node string) string {
	for _, st := range m.Stations {
		if slices.Contains(st.Nodes, node) {
			return st.Name
		}
	}
	return ""
}
