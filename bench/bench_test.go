package bench

import (
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/perf/benchfmt"

	"github.com/lvslab/lvslab/topology"
)

// synthetic makes a result whose modes run at the given fraction of
// direct's 1000 req/s, each trial with multiplicative noise of sd noise.
func synthetic(seed uint64, trials int, noise float64, ratios map[topology.Mode]float64) *Result {
	rng := rand.New(rand.NewPCG(seed, 7))
	r := &Result{Config: Settings{Modes: []topology.Mode{topology.ModeDirect, topology.ModeNAT, topology.ModeDR},
		Clients: []int{1, 16}, Trials: trials, Connection: "new"}}
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
	if !(e.Lo <= e.Median && e.Median <= e.Hi && e.Lo >= 1 && e.Hi <= 5) {
		t.Errorf("interval [%g, %g] should hold the median and stay within the data", e.Lo, e.Hi)
	}
	if math.Abs(e.CV-math.Sqrt(2.5)/3) > 1e-9 {
		t.Errorf("CV %g, want sd/mean = %g", e.CV, math.Sqrt(2.5)/3)
	}
	if again := Estimated([]float64{5, 1, 3, 2, 4}); again.Lo != e.Lo || again.Hi != e.Hi {
		t.Error("the bootstrap must be reproducible: same data, same interval")
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

func TestGateVerdicts(t *testing.T) {
	opt := GateOptions{Margin: 0.10, Alpha: 0.05}
	base := synthetic(1, 6, 0.02, map[topology.Mode]float64{topology.ModeNAT: 0.5, topology.ModeDR: 0.8})
	cases := []struct {
		name        string
		nat, dr     float64
		regressions int
		verdict     string
	}{
		{"same build", 0.5, 0.8, 0, ""},
		{"director 20% slower", 0.4, 0.64, 4, "REGRESSION"},
		{"5% slower is within a 10% margin", 0.475, 0.76, 0, "slower, within margin"},
		{"faster never fails", 0.6, 0.9, 0, "faster"},
	}
	for i, c := range cases {
		cur := synthetic(uint64(10+i), 6, 0.02, map[topology.Mode]float64{topology.ModeNAT: c.nat, topology.ModeDR: c.dr})
		g, err := Gate(base, cur, opt)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if g.Regressions != c.regressions {
			var buf bytes.Buffer
			g.WriteTable(&buf)
			t.Errorf("%s: %d regressions, want %d\n%s", c.name, g.Regressions, c.regressions, buf.String())
		}
		if c.verdict != "" && g.Rows[len(g.Rows)-1].Verdict != c.verdict {
			t.Errorf("%s: verdict %q, want %q", c.name, g.Rows[len(g.Rows)-1].Verdict, c.verdict)
		}
	}
}

func TestGateRefusesWhatItCannotCompare(t *testing.T) {
	base := synthetic(1, 6, 0.02, map[topology.Mode]float64{topology.ModeNAT: 0.5, topology.ModeDR: 0.8})
	cur := synthetic(2, 6, 0.02, map[topology.Mode]float64{topology.ModeNAT: 0.5, topology.ModeDR: 0.8})
	cur.Config.Connection = "keepalive"
	if _, err := Gate(base, cur, GateOptions{Margin: 0.1, Alpha: 0.05}); err == nil || !strings.Contains(err.Error(), "--conn") {
		t.Errorf("different connection modes: got %v, want an error naming --conn", err)
	}
	if _, err := Gate(base, base, GateOptions{Margin: 1.5, Alpha: 0.05}); err == nil {
		t.Error("a margin of 150% must be refused")
	}
	directOnly := synthetic(3, 6, 0, nil)
	directOnly.Config.Modes = []topology.Mode{topology.ModeDirect}
	directOnly.Points = Summarise(directOnly)
	if _, err := Gate(base, directOnly, GateOptions{Margin: 0.1, Alpha: 0.05}); err == nil || !strings.Contains(err.Error(), "nothing to compare") {
		t.Errorf("no ratios: got %v, want nothing to compare", err)
	}
}

func TestThresholds(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "t.yaml")
	os.WriteFile(path, []byte("limits:\n  - mode: nat\n    min_ratio: 0.6\n  - max_errors: 0\n    max_p99_ms: 5\n"), 0o644)
	th, err := LoadThresholds(path)
	if err != nil {
		t.Fatal(err)
	}
	r := synthetic(1, 6, 0, map[topology.Mode]float64{topology.ModeNAT: 0.5, topology.ModeDR: 0.8})
	broken := th.Check(r)
	if len(broken) != 2 || !strings.Contains(broken[0], "nat at 1 clients: ratio to direct 0.500 is below 0.600") {
		t.Errorf("broken limits %q, want nat's ratio at 1 and 16 clients", broken)
	}
	os.WriteFile(path, []byte("limits:\n  - mode: nat\n    min_ratoi: 0.6\n"), 0o644)
	if _, err := LoadThresholds(path); err == nil || !strings.Contains(err.Error(), "min_ratoi") {
		t.Errorf("a misspelt key must be named, got %v", err)
	}
	os.WriteFile(path, []byte("limits:\n  - mode: natt\n"), 0o644)
	if _, err := LoadThresholds(path); err == nil || !strings.Contains(err.Error(), `"natt" is unknown`) {
		t.Errorf("an unknown mode must be named, got %v", err)
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
