//go:build linux

package bench

import (
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/lvslab/lvslab/internal/proc"
	"github.com/lvslab/lvslab/loadgen"
	"github.com/lvslab/lvslab/topology"
)

// What a benchmark's result holds (results.json) and the environment it
// records.

// Result is everything a benchmark measured, as results.json holds it.
type Result struct {
	Env    Env      `json:"env"`
	Config Settings `json:"config"`
	// Trials holds every measurement of the sweep, in the order taken.
	Trials []Trial `json:"trials"`
	// Latency holds the single-client runs, one per mode: the paper's third
	// test, and R(1) of the model's bounds.
	Latency []Trial `json:"latency,omitempty"`
	// Light holds the light-load runs demands are measured in, two per
	// mode and trial (Trial.Level 1 and 2).
	Light []Trial `json:"light,omitempty"`
	// Machine is the machine model the labs ran under.
	Machine *Machine `json:"machine,omitempty"`
	// Points summarises the trials per mode and client count.
	Points []Point `json:"points"`
	// Demands and Model are computed from Light, Latency and Points.
	Demands []Demand `json:"demands,omitempty"`
	Model   *Model   `json:"model,omitempty"`
	// Finding is the verdict, its reason and the demands' sanity checks.
	Finding *Finding `json:"finding,omitempty"`
	// Stations is the default benchmark's second run: the same modes in a
	// VM with a vCPU per station, under light load (and direct saturated,
	// for the servers' capacity the capped run's cap comes from), for per-station
	// demands and the paper's hardware predicted.
	Stations *Result `json:"stations,omitempty"`
	// Capped is the default benchmark's third run: the director's vCPU
	// capped at one real server's share (DeriveCap), for the knee shown
	// physically; Physical is what it shows, and how the cap was derived.
	Capped   *Result   `json:"capped,omitempty"`
	Physical *Physical `json:"physical,omitempty"`
}

// Env is where a benchmark ran.
type Env struct {
	Version   string `json:"lvslab_version"`
	GoVersion string `json:"go_version"`
	Kernel    string `json:"kernel"`
	// KernelName is the kernel list's name (debian-6.1) when run in the VM.
	KernelName string            `json:"kernel_name,omitempty"`
	CPUModel   string            `json:"cpu_model"`
	CPUs       int               `json:"cpus"`
	Accel      string            `json:"accelerator"` // host, kvm or tcg
	Started    time.Time         `json:"started"`
	Elapsed    float64           `json:"elapsed_s"`
	Sysctls    map[string]string `json:"sysctls"`

	// KernelPackage, KernelVersion and KernelSHA256 are the build of a
	// listed kernel: its Debian package, version and the .deb's SHA256.
	KernelPackage string `json:"kernel_package,omitempty"`
	KernelVersion string `json:"kernel_version,omitempty"`
	KernelSHA256  string `json:"kernel_sha256,omitempty"`
	// Switch says how the labs' bridges forwarded (topology.Switch).
	Switch string `json:"switch,omitempty"`
}

// Settings is the configuration a result was measured with: the Config it
// ran, and what that implied, restated for readers of results.json.
type Settings struct {
	Config
	Connection  string `json:"connection"` // new or keepalive
	BodyBytes   int    `json:"body_bytes"`
	RealServers int    `json:"real_servers"`
}

// Trial is one measurement.
type Trial struct {
	Mode    topology.Mode `json:"mode"`
	Clients int           `json:"clients"`
	Trial   int           `json:"trial"`
	// Order is the measurement's position within its trial.
	Order             int             `json:"order"`
	Requests          int64           `json:"requests"`
	Errors            int64           `json:"errors"`
	RequestsPerSec    float64         `json:"requests_per_s"`
	ConnectionsPerSec float64         `json:"connections_per_s"`
	Latency           loadgen.Latency `json:"latency"`
	// LoadgenCores is the CPU this process used (the load generator's alone
	// when the real servers run outside); MachineBusy the whole machine's.
	LoadgenCores float64 `json:"loadgen_cores"`
	MachineBusy  float64 `json:"machine_busy"`
	// LoadgenBound marks a measurement where the load generator, not the
	// system under test, was the bottleneck.
	LoadgenBound bool `json:"loadgen_bound,omitempty"`
	// Elapsed is the measurement's wall time; Rate the open-loop rate
	// asked for (light load), 0 for closed loop; Level the light-load
	// level (1: half the rate of 2).
	Elapsed float64 `json:"elapsed_s,omitempty"`
	Rate    float64 `json:"rate,omitempty"`
	Level   int     `json:"level,omitempty"`
	// Window is the wall time Stations cover: the load generator's start
	// and end as well as Elapsed (in the VM, the host's time between the
	// marks). Demands take utilization and throughput over it alike.
	Window float64 `json:"window_s,omitempty"`
	// Stations is the CPU time each station used; Switches the machine's
	// context switches meanwhile.
	Stations []StationUse `json:"stations,omitempty"`
	Switches uint64       `json:"context_switches,omitempty"`
	// Marks are the console marks that bracket it (VM runs).
	Marks [2]int `json:"marks,omitzero"`
}

func settings(cfg Config) Settings {
	conn := "new"
	if cfg.KeepAlive {
		conn = "keepalive"
	}
	cfg.Progress = nil
	return Settings{Config: cfg, Connection: conn, BodyBytes: cfg.Server.BodySize,
		RealServers: len(topology.Paper().ByRole(topology.RoleRealServer))}
}

// recordedSysctls are the settings that change what a benchmark measures.
var recordedSysctls = map[string][]string{
	"client":   {"net.ipv4.tcp_tw_reuse", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_timestamps"},
	"director": {"net.ipv4.vs.conntrack", "net.ipv4.vs.conn_reuse_mode", "net.ipv4.vs.expire_nodest_conn", "net.ipv4.ip_forward"},
	"rs1":      {"net.core.somaxconn", "net.ipv4.tcp_max_syn_backlog"},
}

// environment records the machine and, per mode, the sysctls of
// recordedSysctls ("nat/director/net.ipv4.vs.conn_reuse_mode").
func environment(labs []*modeLab) Env {
	e := Env{GoVersion: runtime.Version(), Kernel: proc.KernelRelease(),
		CPUModel: cpuModel(), CPUs: runtime.NumCPU(), Accel: "host", Sysctls: map[string]string{}}
	for _, l := range labs {
		for node, keys := range recordedSysctls {
			n := l.lab.Node(node)
			if n == nil || (node == "director" && l.mode == topology.ModeDirect) {
				continue
			}
			for _, k := range keys {
				if v, err := n.Sysctl(k); err == nil {
					e.Sysctls[string(l.mode)+"/"+node+"/"+k] = strings.Join(strings.Fields(v), " ")
				}
			}
		}
	}
	return e
}

func readTrim(path string) string {
	data, _ := os.ReadFile(path)
	return strings.TrimSpace(string(data))
}

func cpuModel() string {
	for _, line := range strings.Split(readTrim("/proc/cpuinfo"), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}
