//go:build linux

package bench

import (
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/perf/benchfmt"

	"github.com/lvslab/lvslab/topology"
)

// synthetic makes a result whose modes run at the given fraction of
// direct's 1000 req/s, each trial with multiplicative noise of sd noise.
func synthetic(seed uint64, trials int, noise float64, ratios map[topology.Mode]float64) *Result {
	rng := rand.New(rand.NewPCG(seed, 7))
	r := &Result{Config: Settings{Config: Config{Modes: []topology.Mode{topology.ModeDirect, topology.ModeNAT, topology.ModeDR},
		Clients: []int{1, 16}, Trials: trials}, Connection: "new"}}
	for t := 1; t <= trials; t++ {
		for _, c := range r.Config.Clients {
			for i, m := range r.Config.Modes {
				ratio := 1.0
				if m != topology.ModeDirect {
					ratio = ratios[m]
				}
				rps := 1000 * float64(c) * ratio * (1 + noise*rng.NormFloat64())
				r.Trials = append(r.Trials, Trial{Mode: m, Clients: c, Trial: t, Order: i, Requests: int64(rps),
					RequestsPerSec: rps})
			}
		}
	}
	r.Points = Summarise(r)
	return r
}

func TestEstimated(t *testing.T) {
	e := Estimated([]float64{5, 1, 3, 2, 4})
	if e.Median != 3 {
		t.Errorf("median %g, want 3", e.Median)
	}
	if e.Lo != 1 || e.Hi != 5 || e.Level != 1-2.0/32 || e.Sure() {
		t.Errorf("five values: [%g, %g] at %g, want their range at 1 − 2/2⁵, not sure", e.Lo, e.Hi, e.Level)
	}
	if math.Abs(e.CV-math.Sqrt(2.5)/3) > 1e-9 {
		t.Errorf("CV %g, want sd/mean = %g", e.CV, math.Sqrt(2.5)/3)
	}
	if got := Estimated([]float64{0.3, 0.2, 0.25}).Show("%.2f"); got != "0.25 [0.20, 0.30] (75 %)" {
		t.Errorf("three values read %q: the range of three holds the median 75 %% of the time, and must say so", got)
	}
	ten := Estimated([]float64{10, 1, 9, 2, 8, 3, 7, 4, 6, 5})
	if !ten.Sure() || ten.Lo != 2 || ten.Hi != 9 || ten.Interval("%g") != "[2, 9]" {
		t.Errorf("ten values: [%g, %g] at %g, want the order statistics 2 and 9 at ≥ 95 %%", ten.Lo, ten.Hi, ten.Level)
	}
}

// The level an Estimate states is the share of samples whose interval
// holds the true median: simulated from a skewed distribution, since the
// interval assumes none.
func TestIntervalsHoldTheMedianAsOftenAsTheySay(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const draws = 4000
	trueMedian := math.Ln2 // of the exponential distribution with rate 1
	for _, n := range []int{3, 5, 6, 8, 12} {
		held, level := 0, 0.0
		for range draws {
			v := make([]float64, n)
			for i := range v {
				v[i] = rng.ExpFloat64()
			}
			e := Estimated(v)
			level = e.Level
			if e.Lo <= trueMedian && trueMedian <= e.Hi {
				held++
			}
		}
		if got := float64(held) / draws; math.Abs(got-level) > 0.02 {
			t.Errorf("%d values: the interval held the median in %.3f of samples, and says %.3f", n, got, level)
		}
		if (n >= SureTrials) != (level >= Confidence) {
			t.Errorf("%d values: level %.3f, want Confidence from %d values on", n, level, SureTrials)
		}
	}
}

func TestSummarisePairsTrialsWithDirect(t *testing.T) {
	r := synthetic(1, 6, 0, map[topology.Mode]float64{topology.ModeNAT: 0.5, topology.ModeDR: 0.8})
	p, ok := r.Point(topology.ModeNAT, 16)
	if !ok || p.Ratio == nil || math.Abs(p.Ratio.Median-0.5) > 1e-9 || len(p.Ratio.Values) != 6 {
		t.Fatalf("nat at 16 clients: %+v, want ratio 0.5 over 6 trials", p)
	}
	if d, _ := r.Point(topology.ModeDirect, 16); d.Ratio != nil || d.RequestsPerSec.Median != 16000 {
		t.Errorf("direct: %+v, want no ratio and 16000 req/s", d)
	}
	if len(r.Points) != 6 {
		t.Errorf("%d points, want 3 modes × 2 client counts", len(r.Points))
	}
}

func TestShippedThresholdsLoad(t *testing.T) {
	if _, err := LoadThresholds("../fixtures/thresholds.yaml"); err != nil {
		t.Fatal(err)
	}
}

func TestFilesAreReadable(t *testing.T) {
	r := synthetic(1, 6, 0.02, map[topology.Mode]float64{topology.ModeNAT: 0.5, topology.ModeDR: 0.8})
	dir := t.TempDir()
	if err := r.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	// benchstat's own parser reads every trial, direct first.
	f, _ := os.Open(filepath.Join(dir, ResultsText))
	defer f.Close()
	reader := benchfmt.NewReader(f, ResultsText)
	n := 0
	for reader.Scan() {
		switch rec := reader.Result().(type) {
		case *benchfmt.Result:
			if n == 0 && !strings.HasSuffix(string(rec.Name), "mode=direct") {
				t.Errorf("first line %s: direct should come first, as benchstat's reference column", rec.Name)
			}
			n++
		case *benchfmt.SyntaxError:
			t.Errorf("results.txt: %v", rec)
		}
	}
	if n != len(r.Trials) {
		t.Errorf("benchfmt read %d results, want %d", n, len(r.Trials))
	}
	back, err := ReadResult(filepath.Join(dir, ResultsJSON))
	if err != nil || len(back.Points) != len(r.Points) {
		t.Errorf("results.json read back: %v, %d points", err, len(back.Points))
	}
	summary, _ := os.ReadFile(filepath.Join(dir, SummaryMD))
	for _, want := range []string{"| nat | 16 | 0.", "1790", "7116"} {
		if !bytes.Contains(summary, []byte(want)) {
			t.Errorf("summary.md lacks %q", want)
		}
	}
	for _, name := range []string{FigureSVG, FigurePNG} {
		if st, err := os.Stat(filepath.Join(dir, name)); err != nil || st.Size() < 1000 {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := ReadResult(filepath.Join(dir, SummaryMD)); err == nil {
		t.Error("summary.md is not a result and must be refused")
	}
}

func TestConfigNamesEveryProblem(t *testing.T) {
	c := Config{Modes: []topology.Mode{"nat", "nat", "lb"}, Clients: []int{0}, Trials: -1, Duration: -1}
	err := c.Validate()
	for _, want := range []string{"mode nat is given twice", `mode "lb" is unknown`, "client count 0", "trials -1", "duration -1ns"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
}

func TestConfigRefusesBadNamesAndSchedulers(t *testing.T) {
	c := Config{Name: "bbA", Modes: []topology.Mode{"direct"}, Clients: []int{1}, Trials: 1, Duration: 1, Scheduler: "roundrobin"}
	err := c.Validate()
	for _, want := range []string{`--name "bbA": lab name "bbAdirect": use 1-20`, "lower-case", `scheduler "roundrobin" is not one of the kernel's IPVS schedulers: use one of rr, wrr`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
}

func TestOneClientRunStandsInForASweepWithoutIt(t *testing.T) {
	r := synthetic(1, 6, 0.02, map[topology.Mode]float64{topology.ModeNAT: 0.5, topology.ModeDR: 0.8})
	r.Config.Clients = []int{8, 32}
	r.Latency = []Trial{{Mode: topology.ModeNAT, Clients: 1, RequestsPerSec: 640}}
	if got := r.figureClients(); !slices.Equal(got, []int{1, 8, 32}) {
		t.Errorf("figure's client counts %v, want 1 (the one-client run) before the sweep's 8, 32", got)
	}
	if one, ok := r.oneClient(topology.ModeNAT); !ok || one.RequestsPerSec != 640 {
		t.Errorf("nat's one-client point: %+v %v, want the one-client run", one, ok)
	}
	if _, ok := r.oneClient(topology.ModeDR); ok {
		t.Error("dr has no one-client run: nothing may stand in for it")
	}
	r.Config.Clients = []int{1, 8}
	if _, ok := r.oneClient(topology.ModeNAT); ok {
		t.Error("a sweep that measured 1 client draws its own point, not the one-client run")
	}
	if got := r.figureClients(); !slices.Equal(got, []int{1, 8}) {
		t.Errorf("figure's client counts %v, want the sweep's 1, 8", got)
	}
}

func TestLightBurstIsBounded(t *testing.T) {
	second := Seconds(time.Second)
	c := Config{Modes: []topology.Mode{"direct"}, Clients: []int{8}, Trials: 1, Duration: second, Latency: second,
		Light: LightLoad{Trials: 1, Duration: second, Share: 0.4, Burst: lightClients + 1}}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "light-load burst 65: use 0 or 1 (evenly spaced) up to 64") {
		t.Errorf("error %v, want one naming the burst and its bounds", err)
	}
	c.Light.Burst = 8
	if err := c.Validate(); err != nil {
		t.Errorf("a burst of 8 refused: %v", err)
	}
}

// A summary.md planted as a symlink to a root-owned file, in a folder
// others can write, was written through: now it is replaced.
func TestOutputsReplaceAPlantedSymlink(t *testing.T) {
	dir, victim := t.TempDir(), filepath.Join(t.TempDir(), "shadow")
	if err := os.WriteFile(victim, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o1777)
	os.Symlink(victim, filepath.Join(dir, SummaryMD))
	r := synthetic(1, 6, 0.02, map[topology.Mode]float64{topology.ModeNAT: 0.5, topology.ModeDR: 0.8})
	if err := r.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(victim); string(data) != "secret" {
		t.Errorf("the symlink's target was written: %q", data)
	}
	if st, err := os.Lstat(filepath.Join(dir, SummaryMD)); err != nil || !st.Mode().IsRegular() || st.Mode().Perm() != 0o644 {
		t.Errorf("summary.md is not a file of its own: %v %v", st, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 5 {
		t.Errorf("the folder holds %d entries, want the 5 outputs: %v", len(entries), entries)
	}
	link := filepath.Join(t.TempDir(), "out")
	os.Symlink(dir, link)
	if err := CheckOutDir(link); err == nil || !strings.Contains(err.Error(), "is a symlink") {
		t.Errorf("a symlinked --out: %v", err)
	}
	if err := WriteFileIn(link, ConfigFile, r.WriteJSON); err == nil {
		t.Error("config.json was written through a symlinked --out")
	}
}

// The counted resample gives the median that drawing the values one by
// one and sorting them gives, draw for draw: intervals did not change.
func TestResamplerMedianIsTheResamplesMedian(t *testing.T) {
	for _, n := range []int{1, 2, 3, 4, 7, 10, 100} {
		values := make([]float64, n)
		for i := range values {
			values[i] = float64((i * 7919) % 13) // ties included
		}
		want, got := rand.New(rand.NewPCG(1, 2)), rand.New(rand.NewPCG(1, 2))
		draw, resample := newResampler(values), make([]float64, n)
		for range 1000 {
			for i := range resample {
				resample[i] = values[want.IntN(n)]
			}
			if m, g := median(resample), draw.median(got); m != g {
				t.Fatalf("n=%d: median %g, counted %g", n, m, g)
			}
		}
	}
}

func TestHousekeepingIsRefusedOutsideItsVM(t *testing.T) {
	c := Config{Modes: []topology.Mode{topology.ModeDirect}, Clients: []int{1}, Trials: 1, Duration: Seconds(time.Second), Housekeeping: true}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "housekeeping keeps kernel work on the client's station: it needs the machine model") {
		t.Errorf("housekeeping without --isolate: %v", err)
	}
	if _, err := housekeep(topology.CPUList{0}); err == nil || !strings.Contains(err.Error(), "for the benchmark's VM only") {
		t.Errorf("housekeeping on this host: %v", err)
	}
}
