//go:build linux

package bench

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/lvslab/lvslab/topology"
)

// stationsResult is a light-load result under the machine model: per mode
// each station's demand (seconds per request) and a background each
// station spends whatever the load, measured at two rates per trial.
func stationsResult(demands map[topology.Mode]map[string]float64, background float64, trials int) *Result {
	r := &Result{Config: Settings{Config: Config{Modes: []topology.Mode{topology.ModeDirect, topology.ModeRouted, topology.ModeNAT, topology.ModeDR}, Isolate: true,
		Light: LightLoad{Trials: trials, Duration: Seconds(time.Second), Share: 0.4}}}}
	r.Machine = &Machine{Source: SourceVCPU, Stations: []topology.Station{
		{Name: "client", Nodes: []string{"client"}, CPUs: topology.CPUList{0}},
		{Name: "director", Nodes: []string{"director"}, CPUs: topology.CPUList{1}},
		{Name: "router", Nodes: []string{"router"}, CPUs: topology.CPUList{2}},
		{Name: "servers", Nodes: []string{"rs1", "rs2"}, CPUs: topology.CPUList{3}},
	}, Caps: map[string]float64{"director": 0.2}}
	for t := 1; t <= trials; t++ {
		for _, m := range r.Config.Modes {
			for level := 1; level <= 2; level++ {
				x := 50.0 * float64(level)
				noise := 1 + 0.01*(float64(t)-float64(trials+1)/2) // median 1 at any count
				tr := Trial{Mode: m, Trial: t, Level: level, Rate: x, Requests: int64(x), Elapsed: 1, RequestsPerSec: x}
				for _, st := range stationNames(r.Machine) {
					tr.Stations = append(tr.Stations, StationUse{Station: st, CPUSeconds: background + x*demands[m][st]*noise})
				}
				r.Light = append(r.Light, tr)
			}
		}
	}
	for _, m := range r.Config.Modes {
		total := 0.0
		for _, d := range demands[m] {
			total += d
		}
		x1 := 1 / (total + 0.001)
		r.Latency = append(r.Latency, Trial{Mode: m, Clients: 1, Requests: int64(x1), RequestsPerSec: x1, Elapsed: 1})
	}
	r.Summarise()
	return r
}

var labDemands = map[topology.Mode]map[string]float64{
	topology.ModeDirect: {"client": 0.004, "director": 0, "router": 0, "servers": 0.008},
	topology.ModeRouted: {"client": 0.004, "director": 0.001, "router": 0, "servers": 0.008},
	topology.ModeNAT:    {"client": 0.004, "director": 0.002, "router": 0, "servers": 0.008},
	topology.ModeDR:     {"client": 0.004, "director": 0.001, "router": 0.001, "servers": 0.008},
}

func TestDemandsAreTheSlopeNotTheUtilizationOverThroughput(t *testing.T) {
	r := stationsResult(labDemands, 0.3, 3) // a background of 0.3 CPU-seconds per second on every station
	d, ok := r.Demand(topology.ModeNAT, "director")
	if !ok || math.Abs(d.Seconds.Median-0.002) > 1e-5 {
		t.Fatalf("NAT's director demand %+v, want 2 ms: the background must drop out", d)
	}
	if d.Capacity != 0.2 {
		t.Errorf("the capped director's capacity is %g, want 0.2", d.Capacity)
	}
	if len(d.Seconds.Values) != 3 {
		t.Errorf("%d trial values, want 3", len(d.Seconds.Values))
	}
}

func TestBoundsFindTheBottleneck(t *testing.T) {
	r := stationsResult(labDemands, 0, 3)
	nat, ok := r.Model.Bound(topology.ModeNAT)
	if !ok || nat.Bottleneck != "director" {
		t.Fatalf("NAT's bottleneck %q, want the capped director (0.2 CPU / 2 ms = 100 req/s)", nat.Bottleneck)
	}
	if math.Abs(nat.Ceiling.Median-100) > 2 {
		t.Errorf("NAT's ceiling %.1f, want 100 req/s", nat.Ceiling.Median)
	}
	direct, _ := r.Model.Bound(topology.ModeDirect)
	if direct.Bottleneck != "servers" || math.Abs(direct.Ceiling.Median-125) > 2 {
		t.Errorf("direct: bottleneck %s at %.1f, want the servers at 1/8 ms = 125 req/s", direct.Bottleneck, direct.Ceiling.Median)
	}
	if nat.R1 <= 0 || math.Abs(nat.Z-0.001) > 1e-4 {
		t.Errorf("R(1) %g, Z %g: want Z = R(1) - D = 1 ms", nat.R1, nat.Z)
	}
	if got := nat.Bound(1); math.Abs(got-1/nat.R1) > 1e-9 {
		t.Errorf("the bound at one client is %g, want n/R(1) = %g", got, 1/nat.R1)
	}
	// The host's two CPUs bind when every station's demand adds up beyond them.
	r.Machine.HostCPUs = 1
	r.Summarise()
	if b, _ := r.Model.Bound(topology.ModeDirect); b.Bottleneck != HostStation {
		t.Errorf("direct on one host CPU: bottleneck %s, want %s (12 ms per request in all)", b.Bottleneck, HostStation)
	}
}

func TestAStationWithNoDemandIsNoBottleneck(t *testing.T) {
	r := stationsResult(labDemands, 0.3, 3)
	// The director idles in direct mode: its CPU time per request is noise
	// around zero, yet over its capacity (a 0.2 cap) it would look like
	// the tightest station in two trials of three.
	noise := map[int]float64{1: -0.001, 2: 0.004, 3: 0.003}
	for i, tr := range r.Light {
		if tr.Mode != topology.ModeDirect || tr.Level != 2 {
			continue
		}
		for j, u := range tr.Stations {
			if u.Station == "director" {
				r.Light[i].Stations[j].CPUSeconds = u.CPUSeconds + tr.RequestsPerSec*noise[tr.Trial]/2
			}
		}
	}
	r.Summarise()
	if d, _ := r.Demand(topology.ModeDirect, "director"); d.Seconds.Lo > 0 {
		t.Fatalf("the director's demand in direct mode %+v: the test needs an interval that reaches 0", d.Seconds)
	}
	if b, _ := r.Model.Bound(topology.ModeDirect); b.Bottleneck != "servers" || math.Abs(b.Ceiling.Median-125) > 2 {
		t.Errorf("direct: bottleneck %s at %.1f req/s, want the servers at 125: an idle station's noise bounds nothing", b.Bottleneck, b.Ceiling.Median)
	}
}

func TestBoundCheckAgainstTheSweep(t *testing.T) {
	r := stationsResult(labDemands, 0, SureTrials)
	r.Config.Clients = []int{1, 32}
	for tr := 1; tr <= SureTrials; tr++ {
		for _, m := range r.Config.Modes {
			x := map[topology.Mode]float64{topology.ModeNAT: 99, topology.ModeDirect: 60, topology.ModeRouted: 120, topology.ModeDR: 120}[m]
			r.Trials = append(r.Trials, Trial{Mode: m, Clients: 32, Trial: tr, Requests: int64(x), RequestsPerSec: x + float64(tr)})
		}
	}
	r.Summarise()
	nat, _ := r.Model.Bound(topology.ModeNAT)
	if nat.Check == nil || !strings.HasPrefix(nat.Check.Verdict, "as predicted") {
		t.Errorf("NAT at 100 predicted and about 100 measured: %+v", nat.Check)
	}
	direct, _ := r.Model.Bound(topology.ModeDirect)
	if direct.Check == nil || !strings.Contains(direct.Check.Verdict, "below the bound") {
		t.Errorf("direct at 125 predicted and 61 measured: %+v", direct.Check)
	}
	// A bound known only within a factor of 24 overlaps anything: not a pass.
	wide := r.check(ModeBound{Mode: topology.ModeNAT}, []float64{13, 60, 105, 110, 200, 308})
	if wide == nil || !strings.HasPrefix(wide.Verdict, "inconclusive: the bound's interval [13, 308]") {
		t.Errorf("a bound of [13, 308] checked: %+v", wide)
	}
	// Three light-load trials: their range holds the bound's median 75 %
	// of the time, too seldom for "as predicted".
	three := r.check(ModeBound{Mode: topology.ModeNAT}, []float64{99, 100, 101})
	if three == nil || !strings.Contains(three.Verdict, "inconclusive") || !strings.Contains(three.Verdict, "3 trial(s) give only a 75 % range") {
		t.Errorf("a bound from three trials checked: %+v", three)
	}
}

func TestPathsAndThePapersHardware(t *testing.T) {
	r := stationsResult(labDemands, 0, SureTrials)
	var ipvs *PathCost
	for i, p := range r.Model.Paths {
		if p.Mode == topology.ModeNAT {
			ipvs = &r.Model.Paths[i]
		}
	}
	if ipvs == nil || ipvs.Reference != topology.ModeRouted || math.Abs(ipvs.Seconds.Median-0.001) > 1e-5 {
		t.Fatalf("IPVS in NAT: %+v, want nat - routed = 1 ms", ipvs)
	}
	if math.Abs(ipvs.Share.Median-0.001/0.014) > 1e-3 {
		t.Errorf("IPVS's share %g, want 1/14 of NAT's demand", ipvs.Share.Median)
	}
	ph := r.Model.Paper
	if ph == nil || ph.Director != "director" || ph.Farm != "servers" {
		t.Fatalf("paper hardware: %+v", ph)
	}
	// 8 servers at 8 ms: 1000 req/s direct; NAT's director at 2 ms: 500, a ratio of 0.5.
	for _, e := range ph.Ratios {
		want := map[topology.Mode]float64{topology.ModeNAT: 0.5, topology.ModeRouted: 1, topology.ModeDR: 1}[e.Mode]
		if math.Abs(e.Estimate.Median-want) > 0.01 {
			t.Errorf("%s: ratio %.3f, want %.3f", e.Mode, e.Estimate.Median, want)
		}
	}
	for _, e := range ph.PerDirector {
		want := map[topology.Mode]float64{topology.ModeNAT: 4, topology.ModeDR: 8}[e.Mode]
		if math.Abs(e.Estimate.Median-want) > 0.1 {
			t.Errorf("%s: %.2f servers per director, want %g", e.Mode, e.Estimate.Median, want)
		}
	}
	if v, why := r.Verdict(); v != FindingNotReproduced || !strings.Contains(why, "0.500") || !strings.Contains(why, "would have to be 2.0") {
		t.Errorf("verdict %q (%s): a predicted 0.5 is above the paper's 0.25, and the director 2 times too fast (4 servers per director, not 8 × 0.25)", v, why)
	}
	heavy := map[topology.Mode]map[string]float64{}
	for m, ds := range labDemands {
		heavy[m] = map[string]float64{}
		for st, d := range ds {
			heavy[m][st] = d
		}
	}
	heavy[topology.ModeNAT]["director"] = 0.005 // 200 req/s against 1000: 0.2
	if v, why := stationsResult(heavy, 0, SureTrials).Verdict(); v != FindingConsistent || !strings.Contains(why, "the physical verdict is not made") {
		t.Errorf("a predicted 0.2: verdict %q (%s), want %q", v, why, FindingConsistent)
	}
}

func TestVerdictFromTheSweep(t *testing.T) {
	r := synthetic(1, 6, 0.01, map[topology.Mode]float64{topology.ModeNAT: 0.2, topology.ModeDR: 0.9})
	if v, why := r.Verdict(); v != FindingInconclusive || !strings.Contains(why, "costs, not capacity") {
		t.Errorf("a measured 0.2 on one CPU: %q (%s), want %q: one CPU measures costs", v, why, FindingInconclusive)
	}
	r.Config.Modes = []topology.Mode{topology.ModeDirect}
	r.Trials = nil
	r.Summarise()
	if v, _ := r.Verdict(); v != FindingInconclusive {
		t.Errorf("no NAT at all: %q, want %q", v, FindingInconclusive)
	}
}

func TestScheduleEstimatesByWork(t *testing.T) {
	sec := Seconds(time.Second)
	cfg := Config{Trials: 1, Clients: []int{1}, Duration: sec, Warmup: 0, Latency: sec, Light: LightLoad{Trials: 1, Duration: sec}}
	s := newSchedule(cfg, 2)
	if s.total != 2+4+2 || s.work != 8*time.Second {
		t.Fatalf("%d steps, %s of work", s.total, s.work)
	}
	first := s.next(time.Second, time.Second)
	if first.Work != 0 || first.Left != 0 {
		t.Errorf("first step: %+v", first)
	}
	s.start = s.start.Add(-3 * time.Second) // the first step took 3 s for 1 s of work
	second := s.next(time.Second, time.Second)
	if math.Abs(second.Work-0.125) > 1e-9 || second.Left < 20*time.Second || second.Left > 25*time.Second {
		t.Errorf("second step: %+v, want 1/8 done and about 21 s left", second)
	}
}

func TestParseCPUIdle(t *testing.T) {
	stat := []byte("cpu  10 0 10 500 5 0 0 0 0 0\ncpu0 5 0 5 250 5 0 0 3 0 0\ncpu1 5 0 5 250 0 0 0 0 0 0\nctxt 1234\n")
	idle, err := parseCPUIdle(stat)
	if err != nil || idle[0] != 2580*time.Millisecond || idle[1] != 2500*time.Millisecond || len(idle) != 2 {
		t.Errorf("idle %v %v: want idle+iowait+steal per CPU", idle, err)
	}
	if n := parseSwitches(stat); n != 1234 {
		t.Errorf("context switches %d", n)
	}
}

func TestGuestConsoleRewritesProgressAndTakesMarks(t *testing.T) {
	var out bytes.Buffer
	s := &vcpuSampler{samples: map[int]HostSample{}, threads: map[int]int{}, pid: 1}
	c := &guestConsole{out: &out, sampler: s}
	c.Write([]byte("lvslab bench: step 1 of 4 (0%), 0s elapsed, estimating: sweep trial 1: nat  1 clients\n"))
	c.start = c.start.Add(-10 * time.Second)
	c.Write([]byte(markPrefix + "7\n"))
	c.Write([]byte("lvslab bench: step 3 of 4 (50%), 2s elapsed, about 2s left: sweep trial 1: dr  1 clients\n"))
	c.Write([]byte("other line\n"))
	got := out.String()
	if strings.Contains(got, markPrefix) {
		t.Error("a mark reached the console")
	}
	if _, ok := s.samples[7]; !ok {
		t.Error("mark 7 was not sampled")
	}
	if !strings.Contains(got, "(50%), 10s elapsed, about 10s left: sweep trial 1: dr") || !strings.HasSuffix(got, "other line\n") {
		t.Errorf("console:\n%s", got)
	}
}

func TestPathsOnOneCPUComeFromTheSaturatedSweep(t *testing.T) {
	r := &Result{Config: Settings{Config: Config{Modes: []topology.Mode{topology.ModeDirect, topology.ModeRouted, topology.ModeNAT}, Clients: []int{1, 32}, Trials: 3,
		Light: LightLoad{Trials: 1}}}}
	r.Machine = &Machine{Source: SourceProcStat, Stations: []topology.Station{{Name: MachineStation, CPUs: topology.CPUList{0}}}}
	cost := map[topology.Mode]float64{topology.ModeDirect: 0.0010, topology.ModeRouted: 0.0012, topology.ModeNAT: 0.0015}
	for tr := 1; tr <= 3; tr++ {
		for _, m := range r.Config.Modes {
			x := 1 / cost[m]
			r.Trials = append(r.Trials, Trial{Mode: m, Clients: 32, Trial: tr, Requests: int64(x), RequestsPerSec: x,
				Stations: []StationUse{{Station: MachineStation, CPUSeconds: 1}}})
			// Light load costs more per request (waking up for each): not what the paths use.
			for level := 1; level <= 2; level++ {
				r.Light = append(r.Light, Trial{Mode: m, Trial: tr, Level: level, Requests: int64(100 * level), Elapsed: 1,
					Stations: []StationUse{{Station: MachineStation, CPUSeconds: 2 * cost[m] * float64(100*level)}}})
			}
		}
	}
	r.Summarise()
	if r.Model == nil || !strings.Contains(r.Model.PathsFrom, "sweep at 32 clients") {
		t.Fatalf("paths from %q", r.Model.PathsFrom)
	}
	for _, p := range r.Model.Paths {
		want := map[topology.Mode]float64{topology.ModeNAT: 0.0003, topology.ModeRouted: 0.0002}[p.Mode]
		if math.Abs(p.Seconds.Median-want) > 2e-6 {
			t.Errorf("%s - %s: %g s, want %g from the sweep", p.Mode, p.Reference, p.Seconds.Median, want)
		}
	}
	if d, _ := r.Demand(topology.ModeNAT, MachineStation); math.Abs(d.Seconds.Median-0.003) > 1e-6 {
		t.Errorf("NAT's light-load demand %g, want the slope, 3 ms", d.Seconds.Median)
	}
}

func TestLightDuration(t *testing.T) {
	for _, c := range []struct {
		rate float64
		want time.Duration
	}{{0, time.Second}, {300, time.Second}, {100, 1500 * time.Millisecond}, {1, 5 * time.Second}} {
		if got := lightDuration(time.Second, c.rate); got != c.want {
			t.Errorf("at %g/s: %s, want %s", c.rate, got, c.want)
		}
	}
}

func TestParseCapsRefusesAStationGivenTwiceOrUnnamed(t *testing.T) {
	caps, err := ParseCaps("director=0.25, servers = 1")
	if err != nil || caps["director"] != 0.25 || caps["servers"] != 1 || len(caps) != 2 {
		t.Errorf("caps %v, %v", caps, err)
	}
	for in, want := range map[string]string{
		"director=0.25,director=100": "gives director twice (0.25 and 100)",
		"director=0,director=1":      "gives director twice",
		"=0.25":                      `--cap "=0.25": give STATION=CPUS pairs`,
		"director":                   "give STATION=CPUS pairs",
		"director=fast":              "give STATION=CPUS pairs",
	} {
		if _, err := ParseCaps(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("--cap %s: %v; want an error saying %q", in, err, want)
		}
	}
	if err := CheckCaps(map[string]float64{"foo": 0.25}, 4); err == nil || !strings.Contains(err.Error(), `cap of "foo": no such station with 4 vCPUs (the stations are client, director, router, servers)`) {
		t.Errorf("a station the model lacks: %v", err)
	}
	if err := CheckCaps(map[string]float64{"director": 0.25}, 4); err != nil {
		t.Error(err)
	}
}

func TestADemandFromTooFewTrialsIsRefused(t *testing.T) {
	r := stationsResult(labDemands, 0.3, 3)
	// Two of NAT's three trials saturated a station: the heavier run
	// served no more than the lighter.
	for i, tr := range r.Light {
		if tr.Mode == topology.ModeNAT && tr.Level == 2 && tr.Trial != 2 {
			r.Light[i].Requests = 40
		}
	}
	r.Summarise()
	why := r.Refusal(topology.ModeNAT)
	if !strings.Contains(why, "rest on 1 light-load trial(s), fewer than 3") || !strings.Contains(why, "trial 1: its heavier run served no more") {
		t.Errorf("NAT from one trial of three: refusal %q", why)
	}
	b, ok := r.Model.Bound(topology.ModeNAT)
	if !ok || b.Refused == "" || b.Ceiling.Median != 0 || b.Check != nil {
		t.Errorf("NAT's bound from one trial: %+v, want it refused", b)
	}
	for _, e := range r.Model.Paper.Ratios {
		if e.Mode == topology.ModeNAT {
			t.Errorf("the paper's hardware predicted NAT from one trial: %+v", e)
		}
	}
	d, _ := r.Demand(topology.ModeNAT, "director")
	if got := d.Seconds.Interval("%.3f"); got != "(1 trial(s), no interval)" {
		t.Errorf("one trial's interval printed as %q", got)
	}
	var out bytes.Buffer
	r.WriteTable(&out)
	if strings.Contains(out.String(), "[2.000, 2.000]") || !strings.Contains(out.String(), "nat: no prediction: nat's demands rest on 1") {
		t.Errorf("terminal:\n%s", out.String())
	}
}

func TestALightRunAboveHalfBusyIsDropped(t *testing.T) {
	r := stationsResult(labDemands, 0, 3)
	for i, tr := range r.Light {
		if tr.Mode == topology.ModeNAT && tr.Level == 2 && tr.Trial == 3 {
			r.Light[i].Stations[1].Busy = 1.05
		}
	}
	r.Summarise()
	if why := r.Refusal(topology.ModeNAT); !strings.Contains(why, "trial 3: station director was 105% busy, above the 50%") {
		t.Errorf("refusal %q", why)
	}
	if r.Refusal(topology.ModeDirect) != "" {
		t.Errorf("direct refused: %s", r.Refusal(topology.ModeDirect))
	}
}

func TestDemandsTakeThroughputOverTheStationsWindow(t *testing.T) {
	// The station times span the load generator's start and end too: 0.2 s
	// more than the measured time, in which a background of 0.5 CPU runs.
	// Per-measured-second throughput would charge that to the requests.
	r := stationsResult(labDemands, 0, 3)
	for i, tr := range r.Light {
		r.Light[i].Elapsed = 150 / tr.Rate // the lighter run is longer, as lightDuration makes it
		r.Light[i].Requests = 150
		r.Light[i].Window = r.Light[i].Elapsed + 0.2
		for j := range tr.Stations {
			r.Light[i].Stations[j].CPUSeconds = 0.5*r.Light[i].Window + 150*labDemands[tr.Mode][tr.Stations[j].Station]
		}
	}
	r.Summarise()
	if d, _ := r.Demand(topology.ModeDirect, "director"); math.Abs(d.Seconds.Median) > 1e-9 {
		t.Errorf("the idle director in direct mode: demand %g s, want 0", d.Seconds.Median)
	}
	if d, _ := r.Demand(topology.ModeNAT, "director"); math.Abs(d.Seconds.Median-0.002) > 1e-9 {
		t.Errorf("NAT's director: demand %g s, want 2 ms", d.Seconds.Median)
	}
}

func TestLightRateSparesACappedStation(t *testing.T) {
	m := &Machine{Stations: []topology.Station{{Name: "client", CPUs: topology.CPUList{0}}, {Name: "director", CPUs: topology.CPUList{1}}}}
	single := Trial{Requests: 100, RequestsPerSec: 1000, Stations: []StationUse{{Station: "client", CPUSeconds: 0.1}, {Station: "director", CPUSeconds: 0.05}}}
	if got := lightRate(single, m, 0.4); math.Abs(got-400) > 1e-9 {
		t.Errorf("uncapped: %g req/s, want 0.4 / 1 ms", got)
	}
	m.Caps = map[string]float64{"director": 0.1} // 0.5 ms on 0.1 CPU: 5 ms of its capacity per request
	if got := lightRate(single, m, 0.4); math.Abs(got-40) > 1e-9 {
		t.Errorf("capped: %g req/s, want 0.4 / (2 × 5 ms)", got)
	}
}

func TestVerdictJudgesTheIntervalNotTheMedian(t *testing.T) {
	for _, c := range []struct {
		name   string
		values []float64
		want   string
	}{
		// The three clean-clone runs that once gave three verdicts, each
		// interval's ends and median among six trials.
		{"0.409 [0.348, 1.001]", []float64{0.348, 0.38, 0.4, 0.418, 0.6, 1.001}, FindingNotReproduced},
		{"0.326 [0.254, 0.537]", []float64{0.254, 0.3, 0.32, 0.332, 0.4, 0.537}, FindingNotReproduced},
		{"0.243 [0.131, 0.536]", []float64{0.131, 0.2, 0.24, 0.246, 0.3, 0.536}, FindingInconclusive},
		{"a narrow interval around 0.25", []float64{0.2, 0.22, 0.24, 0.24, 0.26, 0.3}, FindingConsistent},
		{"narrow and below 0.25", []float64{0.15, 0.16, 0.17, 0.17, 0.18, 0.2}, FindingConsistent},
		// From three trials the range covers the median 75 % of the time:
		// wholly above 0.25 or not, too few to judge.
		{"three trials", []float64{0.348, 0.409, 1.001}, FindingInconclusive},
		{"two trials", []float64{0.2, 0.21}, FindingInconclusive},
	} {
		v, why := judgeRatio(Estimated(c.values), "the prediction")
		if v != c.want {
			t.Errorf("%s: %q (%s), want %q", c.name, v, why, c.want)
		}
	}
	if _, why := judgeRatio(Estimated([]float64{0.131, 0.2, 0.24, 0.246, 0.3, 0.536}), "x"); !strings.Contains(why, "would decide it") {
		t.Errorf("an inconclusive verdict must say what would decide it: %s", why)
	}
}

func TestVerdictIsInconclusiveWhenASanityCheckFails(t *testing.T) {
	bad := map[topology.Mode]map[string]float64{}
	for m, ds := range labDemands {
		bad[m] = map[string]float64{}
		for st, d := range ds {
			bad[m][st] = d
		}
	}
	bad[topology.ModeDirect]["director"] = 0.0004 // an idle director charged for requests
	bad[topology.ModeDR]["director"] = 0.003      // dearer than NAT's 2 ms
	r := stationsResult(bad, 0, 3)
	checks := r.Sanity(nil)
	failed := failedSanity(checks)
	if len(failed) != 2 || !strings.Contains(failed[0], "director in direct mode") || !strings.Contains(failed[1], "DR's director") {
		t.Fatalf("checks %+v", checks)
	}
	if v, why := r.Verdict(); v != FindingInconclusive || !strings.Contains(why, "no demand told apart from 0") {
		t.Errorf("verdict %q (%s)", v, why)
	}
	if f := r.Finding; f == nil || f.Verdict != FindingInconclusive || len(failedSanity(f.Sanity)) != 2 {
		t.Errorf("results.json's finding: %+v", f)
	}
	bad[topology.ModeDR]["director"] = labDemands[topology.ModeDR]["director"]
	bad[topology.ModeDirect]["director"] = -0.0004 // more idle background subtracted than it spent
	if failed := failedSanity(stationsResult(bad, 0, 3).Sanity(nil)); len(failed) != 1 || !strings.Contains(failed[0], "below 0") {
		t.Errorf("a demand wholly below 0: %v", failed)
	}
	good := stationsResult(labDemands, 0, 3)
	if f := failedSanity(good.Sanity(nil)); len(f) != 0 {
		t.Errorf("the lab's own demands fail: %v", f)
	}
}

func TestStationsAddUpToTheSweep(t *testing.T) {
	st := stationsResult(labDemands, 0, 3) // NAT's total is 14/12 of direct's
	sweep := &Result{Config: Settings{Config: Config{Modes: st.Config.Modes, Clients: []int{32}, Trials: 3}}}
	sweep.Machine = &Machine{Source: SourceProcStat, Stations: []topology.Station{{Name: MachineStation, CPUs: topology.CPUList{0}}}}
	total := map[topology.Mode]float64{topology.ModeDirect: 0.001, topology.ModeRouted: 0.0011, topology.ModeNAT: 0.0025, topology.ModeDR: 0.0012}
	// DR's trials scatter: a median of 2.1 times direct's, 1.58 times the
	// stations' 1.33, but an interval of [1.3, 2.6] that meets theirs.
	drScatter := map[int]float64{1: 1.3, 2: 2.1, 3: 2.6}
	for tr := 1; tr <= 3; tr++ {
		for _, m := range sweep.Config.Modes {
			cpu := 1000 * total[m]
			if m == topology.ModeDR {
				cpu = 1000 * total[topology.ModeDirect] * drScatter[tr]
			}
			sweep.Trials = append(sweep.Trials, Trial{Mode: m, Clients: 32, Trial: tr, Requests: 1000, RequestsPerSec: 1000,
				Stations: []StationUse{{Station: MachineStation, CPUSeconds: cpu}}})
		}
	}
	var failed []string
	for _, c := range st.Sanity(sweep) {
		if !c.Passed {
			failed = append(failed, c.Check)
		}
	}
	if len(failed) != 1 || !strings.HasPrefix(failed[0], "nat's stations add up") {
		t.Errorf("NAT at 2.5 times direct on one CPU against 1.17 in the stations, DR's intervals meeting: failed %v", failed)
	}
}

func TestTheFirstScreenAnswers(t *testing.T) {
	sweep := synthetic(1, 6, 0.01, map[topology.Mode]float64{topology.ModeNAT: 0.6, topology.ModeDR: 0.9})
	sweep.Stations = stationsResult(labDemands, 0, SureTrials)
	var md, term bytes.Buffer
	if err := sweep.WriteSummary(&md); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(md.String(), "\n")
	first := strings.Join(lines[:8], "\n")
	for _, want := range []string{"# lvslab bench: not reproduced", "NAT ÷ direct (paper ≤ 0.25): physical: no capped run; single CPU 0.6", "predicted for the paper's hardware 0.500",
		"Knee: nat ", "Real servers one director feeds (paper: 8): nat 4.0", "Bottleneck: nat: director"} {
		if !strings.Contains(first, want) {
			t.Errorf("the first eight lines lack %q:\n%s", want, first)
		}
	}
	if lines[7] != "" || !strings.HasPrefix(lines[8], "## ") {
		t.Errorf("the tables must follow the first screen:\n%s", strings.Join(lines[:10], "\n"))
	}
	if m, tables := strings.Index(md.String(), "# Method"), strings.Index(md.String(), "## Ratio to direct"); m < tables {
		t.Error("the method must come after the tables")
	}
	sweep.WriteTable(&term)
	if !strings.HasPrefix(term.String(), "lvslab bench: not reproduced\n") {
		t.Errorf("the terminal opens with:\n%.300s", term.String())
	}
}

func TestKnee(t *testing.T) {
	r := &Result{Config: Settings{Config: Config{Modes: []topology.Mode{topology.ModeNAT}, Clients: []int{1, 4, 16, 32, 64}, Trials: 3}}}
	// NAT of the 0.05-cap run: flat from 16 clients.
	for i, x := range []float64{23, 53, 80, 97, 81} {
		for tr := 1; tr <= 3; tr++ {
			spread := map[int]float64{1: 0.9, 2: 1, 3: 1.3}[tr]
			r.Trials = append(r.Trials, Trial{Mode: topology.ModeNAT, Clients: r.Config.Clients[i], Trial: tr, Requests: 1, RequestsPerSec: x * spread})
		}
	}
	r.Points = Summarise(r)
	if p, ok := r.knee(topology.ModeNAT); !ok || p.Clients != 16 {
		t.Errorf("knee %+v %v, want 16 clients", p, ok)
	}
	r.Trials, r.Points = nil, nil
	if got := r.kneeLine(); got != "no sweep" {
		t.Errorf("light load only: knee %q", got)
	}
}

func TestAFixedCostPerRunDropsOutOfRunsOfEqualLength(t *testing.T) {
	// 57 ms of CPU per measurement on the idle director (marks, progress
	// lines and the work they cause), whatever the rate.
	build := func(equal bool) float64 {
		r := stationsResult(labDemands, 0, 3)
		for i, tr := range r.Light {
			w := lightDuration(time.Second/2, tr.Rate)
			if equal {
				w = lightDuration(time.Second/2, 50) // the lighter run's length
			}
			r.Light[i].Window, r.Light[i].Elapsed = w.Seconds(), w.Seconds()
			r.Light[i].Requests = int64(tr.Rate * w.Seconds())
			for j, u := range tr.Stations {
				r.Light[i].Stations[j].CPUSeconds = float64(r.Light[i].Requests) * labDemands[tr.Mode][u.Station]
				if u.Station == "director" {
					r.Light[i].Stations[j].CPUSeconds += 0.057
				}
			}
		}
		r.Summarise()
		d, _ := r.Demand(topology.ModeDirect, "director")
		return d.Seconds.Median
	}
	// 50 and 100 req/s: runs of 2.5 s and 1.5 s.
	if got, want := build(false), 0.057*(1/1.5-1/2.5)/50; math.Abs(got-want) > 1e-6 {
		t.Errorf("runs of unequal length: the idle director's demand %g s, want c·(1/W₂ − 1/W₁)/ΔX = %g (the bias this test pins)", got, want)
	}
	if got := build(true); math.Abs(got) > 1e-9 {
		t.Errorf("runs of equal length: the idle director's demand %g s, want 0", got)
	}
}

func TestACapGivenByHandIsNoPhysicalVerdict(t *testing.T) {
	r := stationsResult(labDemands, 0, 3) // the director capped at 0.2 under --isolate
	r.Config.Clients, r.Config.Trials = []int{32}, 3
	for tr := 1; tr <= 3; tr++ {
		for _, m := range r.Config.Modes {
			x := map[topology.Mode]float64{topology.ModeNAT: 20, topology.ModeDirect: 100, topology.ModeRouted: 100, topology.ModeDR: 100}[m]
			r.Trials = append(r.Trials, Trial{Mode: m, Clients: 32, Trial: tr, Requests: int64(x), RequestsPerSec: x * (1 + 0.01*float64(tr))})
		}
	}
	r.Summarise()
	v, why, facts := r.FirstScreen()
	if v == FindingPhysical || !strings.Contains(why, "capped at 0.2 of a host CPU by --cap, a choice") {
		t.Errorf("verdict %q: %s", v, why)
	}
	if !strings.Contains(facts[0], "director capped at 0.2 by --cap 0.200") {
		t.Errorf("first fact %q", facts[0])
	}
}

func TestZeroChecksHoldTheirLevelOnIdleStations(t *testing.T) {
	// Idle stations' slopes from five make bench runs (ms, three trials
	// each): 6 of these 20 lay wholly on one side of 0, and so failed the
	// median's interval, which covers 75 % from three values.
	runs := [][][]float64{
		{{0.049, -0.149, -0.011}, {0.032, -0.028, 0.022}, {-0.122, -0.319, -0.013}, {-0.166, 0.055, 0.015}},
		{{0.046, 0.188, 0.037}, {0.039, 0.11, 0.037}, {0.093, -0.043, 0.057}, {-0.141, 0.025, -0.082}},
		{{-0.065, 0.005, 0.058}, {-0.1, -0.136, -0.08}, {-0.101, -0.233, -0.019}, {0.055, -0.221, -0.045}},
		{{0.133, 0.05, 0.016}, {0.033, 0.104, -0.2}, {0.127, 0.054, -0.156}, {0.023, -0.108, 0.093}},
		{{-0.096, -0.221, 0.175}, {0.11, -0.013, 0.215}, {-0.163, 0.439, -0.001}, {0.129, -0.061, -0.304}},
	}
	for i, run := range runs {
		for _, v := range run {
			if lo, hi, _ := zeroTest(v, len(run)); lo > 0 || hi < 0 {
				t.Errorf("run %d: %v told apart from 0: [%g, %g]", i+1, v, lo, hi)
			}
		}
	}
	// Pure scatter around 0: a run of four checks of six slopes fails at
	// most 1 − sanityConfidence of the time; a demand of 0.4 ms is found.
	rng := rand.New(rand.NewPCG(3, 4))
	slopes := func(mean float64) []float64 {
		v := make([]float64, 6)
		for i := range v {
			v[i] = mean + 0.13*rng.NormFloat64()
		}
		return v
	}
	const runsN = 4000
	falseRuns, found, found3 := 0, 0, 0
	for range runsN {
		failed := false
		for range 4 {
			if lo, hi, _ := zeroTest(slopes(0), 4); lo > 0 || hi < 0 {
				failed = true
			}
		}
		if failed {
			falseRuns++
		}
		if lo, _, _ := zeroTest(slopes(0.4), 4); lo > 0 {
			found++
		}
		if lo, _, _ := zeroTest(slopes(0.3), 4); lo > 0 {
			found3++
		}
	}
	t.Logf("idle runs failed: %.2f%%; a 0.4 ms demand found: %.1f%%, 0.3 ms: %.1f%%", 100*float64(falseRuns)/runsN, 100*float64(found)/runsN, 100*float64(found3)/runsN)
	// 1 − sanityConfidence expected, give or take the simulation's own 0.16 %.
	if rate := float64(falseRuns) / runsN; rate > 1-sanityConfidence+0.005 {
		t.Errorf("idle runs failed %.1f%% of the time, more than %.0f%% and its simulation error", 100*rate, 100*(1-sanityConfidence))
	}
	if power := float64(found) / runsN; power < 0.8 {
		t.Errorf("a 0.4 ms demand found in %.0f%% of runs", 100*power)
	}
}

func TestTheStationsRunTakesTwiceTheLightTrials(t *testing.T) {
	if c := StationsConfig(Config{Modes: []topology.Mode{topology.ModeDirect}, Light: LightLoad{Trials: 3}}); c.Light.Trials != 6 {
		t.Errorf("stations run light trials %d, want 6", c.Light.Trials)
	}
	if c := StationsConfig(Config{Modes: []topology.Mode{topology.ModeDirect}, Light: LightLoad{Trials: MaxTrials}}); c.Light.Trials != MaxTrials {
		t.Errorf("stations run light trials %d, want at most %d", c.Light.Trials, MaxTrials)
	}
}

func TestSanityJudgesSpreadSlopesByTheRunsZeroChecks(t *testing.T) {
	// The director's slopes in direct mode, trial by trial: level 2 of a
	// trial serves 50 requests/s more than level 1 (stationsResult).
	withDirector := func(ms ...float64) *Result {
		r := stationsResult(labDemands, 0, len(ms))
		for i := range r.Light {
			tr := &r.Light[i]
			if tr.Mode != topology.ModeDirect {
				continue
			}
			for j := range tr.Stations {
				if tr.Stations[j].Station == "director" {
					tr.Stations[j].CPUSeconds = float64(tr.Level-1) * 50 * ms[tr.Trial-1] / 1000
				}
			}
		}
		r.Summarise()
		return r
	}
	verdict := func(r *Result) (bool, string) {
		for _, c := range r.Sanity(nil) {
			if strings.HasPrefix(c.Check, "director in direct mode") {
				return c.Passed, c.Detail
			}
		}
		t.Fatal("no zero check of the director in direct mode")
		return false, ""
	}
	// All three above 0, as in a run the median's interval failed.
	if ok, why := verdict(withDirector(0.046, 0.188, 0.037)); !ok {
		t.Errorf("idle scatter told apart from 0: %s", why)
	}
	// Apart from 0 at 95 % alone, not at 99 % over the run's four checks.
	if ok, why := verdict(withDirector(0.045, 0.06, 0.075)); !ok || !strings.Contains(why, "99.75%") {
		t.Errorf("judged as one check, not four: %s", why)
	}
	if ok, why := verdict(withDirector(0.29, 0.3, 0.31)); ok || !strings.Contains(why, "charged to a station that did nothing") {
		t.Errorf("a steady 0.3 ms demand passed: %s", why)
	}
}
