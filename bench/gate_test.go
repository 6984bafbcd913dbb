//go:build linux

package bench

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lvslab/lvslab/fixtures"
	"github.com/lvslab/lvslab/topology"
	"github.com/lvslab/lvslab/vm"
)

var gateOpt = GateOptions{Margin: 0.10, Alpha: 0.05}

func natDR(nat, dr float64) map[topology.Mode]float64 {
	return map[topology.Mode]float64{topology.ModeNAT: nat, topology.ModeDR: dr}
}

// gateTable runs the gate and returns the report and its table.
func gateTable(t *testing.T, base, cur *Result) (*GateReport, string) {
	t.Helper()
	g, err := Gate(base, cur, gateOpt)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := g.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	if _, err := json.Marshal(g); err != nil {
		t.Errorf("the report must always encode as JSON: %v", err)
	}
	return g, buf.String()
}

// expectInconclusive checks that the gate judges every point, does not
// pass, and says why with words that tell what to do.
func expectInconclusive(t *testing.T, base, cur *Result, wantRows int, want ...string) {
	t.Helper()
	g, table := gateTable(t, base, cur)
	if g.Passed() || g.Inconclusive != wantRows {
		t.Errorf("%d inconclusive rows, want %d; passed=%v\n%s", g.Inconclusive, wantRows, g.Passed(), table)
	}
	for _, w := range append(want, "against the baseline: INCONCLUSIVE") {
		if !strings.Contains(table, w) {
			t.Errorf("the table does not say %q:\n%s", w, table)
		}
	}
	if strings.Contains(table, "pass") {
		t.Errorf("an inconclusive gate printed a pass:\n%s", table)
	}
}

func TestGateJudgesEveryPointOfTheBaseline(t *testing.T) {
	base := synthetic(1, 6, 0.02, natDR(0.5, 0.8))

	t.Run("a mode missing from the run", func(t *testing.T) {
		cur := synthetic(2, 6, 0.02, natDR(0.5, 0.8))
		cur.Config.Modes = []topology.Mode{topology.ModeDirect, topology.ModeNAT}
		cur.Points = Summarise(cur)
		expectInconclusive(t, base, cur, 2, "dr/clients=1", "this run did not measure dr", "--modes including dr")
	})
	t.Run("a client count missing from the run", func(t *testing.T) {
		cur := synthetic(2, 6, 0.02, natDR(0.5, 0.8))
		cur.Config.Clients = []int{16}
		cur.Points = Summarise(cur)
		expectInconclusive(t, base, cur, 2, "nat at 1 clients", "--clients including 1")
	})
	t.Run("direct measured 0 req/s", func(t *testing.T) {
		cur := synthetic(2, 6, 0.02, natDR(0.5, 0.8))
		for i := range cur.Trials {
			if cur.Trials[i].Mode == topology.ModeDirect && cur.Trials[i].Clients == 16 {
				cur.Trials[i].RequestsPerSec = 0
			}
		}
		cur.Points = Summarise(cur)
		expectInconclusive(t, base, cur, 2, "no ratio to direct at 16 clients", "check the lab")
	})
	t.Run("a run without nat, dr and tun (no ip_vs, no QEMU)", func(t *testing.T) {
		cur := synthetic(2, 6, 0.02, nil)
		cur.Config.Modes = []topology.Mode{topology.ModeDirect}
		cur.Trials = slices.DeleteFunc(cur.Trials, func(tr Trial) bool { return tr.Mode != topology.ModeDirect })
		cur.Points = Summarise(cur)
		expectInconclusive(t, base, cur, 4, "without ip_vs or QEMU", "in the VM")
	})
}

func TestGateNeedsEnoughTrialsToReachAlpha(t *testing.T) {
	if p := smallestP(3, 3); math.Abs(p-0.1) > 1e-12 {
		t.Errorf("smallest p with 3+3 trials: %g, want 2/C(6,3) = 0.1", p)
	}
	if p := smallestP(4, 4); p >= 0.05 {
		t.Errorf("smallest p with 4+4 trials: %g, want below 0.05", p)
	}
	// A 50 % drop with 3 + 3 trials: the U test cannot tell.
	base := synthetic(1, 3, 0.02, natDR(0.5, 0.8))
	cur := synthetic(2, 3, 0.02, natDR(0.25, 0.4))
	expectInconclusive(t, base, cur, 4, "with 3 baseline and 3 current trials the U test cannot reach p < 0.05",
		"smallest p is 0.100", "--trials 4 or more")
	// Against a baseline of 6, two trials are too few and the message names
	// what this run needs.
	base6 := synthetic(1, 6, 0.02, natDR(0.5, 0.8))
	expectInconclusive(t, base6, synthetic(2, 2, 0.02, natDR(0.5, 0.8)), 4, "run the benchmark with --trials 3 or more")
	// Four each can: a 50 % drop fails.
	g, table := gateTable(t, synthetic(1, 4, 0.02, natDR(0.5, 0.8)), synthetic(2, 4, 0.02, natDR(0.25, 0.4)))
	if g.Regressions != 4 || g.Inconclusive != 0 {
		t.Errorf("4+4 trials, 50%% drop: %d regressions, %d inconclusive\n%s", g.Regressions, g.Inconclusive, table)
	}
}

func TestGateRefusesDegenerateSamples(t *testing.T) {
	base := synthetic(1, 6, 0.02, natDR(0.5, 0.8))
	t.Run("a baseline ratio of 0", func(t *testing.T) {
		zero := synthetic(1, 6, 0.02, natDR(0, 0.8))
		expectInconclusive(t, zero, synthetic(2, 6, 0.02, natDR(0.5, 0.8)), 2, "baseline's ratio is 0", "measure a new baseline")
	})
	t.Run("copied trials", func(t *testing.T) {
		// The same three trials four times, renumbered.
		three := synthetic(3, 3, 0.02, natDR(0.25, 0.4))
		cur := &Result{Config: three.Config}
		cur.Config.Trials = 12
		for k := range 4 {
			for _, tr := range three.Trials {
				tr.Trial += 3 * k
				cur.Trials = append(cur.Trials, tr)
			}
		}
		cur.Points = Summarise(cur)
		expectInconclusive(t, base, cur, 4, "repeat exactly (9 of 12 values are copies", "run the benchmark again")
	})
	t.Run("the current run serving nothing is a regression, not a refusal", func(t *testing.T) {
		g, table := gateTable(t, base, synthetic(2, 6, 0.02, natDR(0, 0.8)))
		if g.Regressions != 2 || g.Inconclusive != 0 {
			t.Errorf("nat at ratio 0: %d regressions, %d inconclusive\n%s", g.Regressions, g.Inconclusive, table)
		}
	})
}

func TestGateVerdicts(t *testing.T) {
	base := synthetic(1, 6, 0.02, natDR(0.5, 0.8))
	cases := []struct {
		name        string
		nat, dr     float64
		regressions int
		verdict     string
	}{
		{"same build", 0.5, 0.8, 0, ""},
		{"director 20% slower", 0.4, 0.64, 4, VerdictRegression},
		{"5% slower is within a 10% margin", 0.475, 0.76, 0, VerdictWithinMargin},
		{"faster never fails", 0.6, 0.9, 0, VerdictFaster},
	}
	for i, c := range cases {
		g, table := gateTable(t, base, synthetic(uint64(10+i), 6, 0.02, natDR(c.nat, c.dr)))
		if g.Regressions != c.regressions || g.Inconclusive != 0 || len(g.Rows) != 4 {
			t.Errorf("%s: %d regressions (want %d), %d inconclusive, %d rows\n%s", c.name, g.Regressions, c.regressions, g.Inconclusive, len(g.Rows), table)
		}
		if c.verdict != "" && g.Rows[len(g.Rows)-1].Verdict != c.verdict {
			t.Errorf("%s: verdict %q, want %q", c.name, g.Rows[len(g.Rows)-1].Verdict, c.verdict)
		}
		if c.regressions == 0 && !strings.Contains(table, "against the baseline: pass") {
			t.Errorf("%s: no pass line:\n%s", c.name, table)
		}
	}
}

func TestGateRefusesWhatItCannotCompare(t *testing.T) {
	base := synthetic(1, 6, 0.02, natDR(0.5, 0.8))
	cur := synthetic(2, 6, 0.02, natDR(0.5, 0.8))
	cur.Config.Connection = "keepalive"
	if _, err := Gate(base, cur, gateOpt); err == nil || !strings.Contains(err.Error(), "--conn") {
		t.Errorf("different connection modes: got %v, want an error naming --conn", err)
	}
	for _, o := range []GateOptions{{Margin: 1.5, Alpha: 0.05}, {Margin: math.NaN(), Alpha: 0.05}, {Margin: 0.1, Alpha: math.NaN()},
		{Margin: 0.1, Alpha: 0}, {Margin: math.Inf(-1), Alpha: 0.05}} {
		err := o.Validate()
		if _, gerr := Gate(base, base, o); err == nil || gerr == nil || !strings.Contains(err.Error(), "use a") {
			t.Errorf("options %+v: got %v, want a refusal saying what to use", o, err)
		}
	}
	directOnly := synthetic(3, 6, 0, nil)
	directOnly.Config.Modes = []topology.Mode{topology.ModeDirect}
	directOnly.Trials = slices.DeleteFunc(directOnly.Trials, func(tr Trial) bool { return tr.Mode != topology.ModeDirect })
	directOnly.Points = Summarise(directOnly)
	if _, err := Gate(directOnly, base, gateOpt); err == nil || !strings.Contains(err.Error(), "measure a baseline with direct and at least one other mode") {
		t.Errorf("a baseline with no ratio: got %v", err)
	}
}

// A run measured otherwise than the baseline is another experiment: only
// --conn used to be compared, and a run of one real server with a
// 999,999-byte body, scheduler sh and 1 ms measurements passed.
func TestGateComparesLikeWithLike(t *testing.T) {
	base := synthetic(1, 6, 0.02, natDR(0.5, 0.8))
	for want, edit := range map[string]func(c *Settings, e *Env){
		"--conn":           func(c *Settings, e *Env) { c.Connection = "keepalive" },
		"--body-size":      func(c *Settings, e *Env) { c.BodyBytes = 999999 },
		"the topology":     func(c *Settings, e *Env) { c.RealServers = 1 },
		"--scheduler":      func(c *Settings, e *Env) { c.Scheduler = "sh" },
		"--sched-batch":    func(c *Settings, e *Env) { c.Batch = true },
		"--duration":       func(c *Settings, e *Env) { c.Duration = Seconds(time.Millisecond) },
		"--service-time":   func(c *Settings, e *Env) { c.Server.ServiceTime = time.Second },
		"--accel/--icount": func(c *Settings, e *Env) { e.Accel = "kvm" },
	} {
		cur := synthetic(2, 6, 0.02, natDR(0.5, 0.8))
		edit(&cur.Config, &cur.Env)
		if _, err := Gate(base, cur, gateOpt); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "not comparable") {
			t.Errorf("a run that differs in %s: got %v", want, err)
		}
	}
	cur := synthetic(2, 6, 0.02, natDR(0.5, 0.8))
	cur.Config.DirectorRules = 80 // a director slowed on purpose, for the gate to catch
	if _, err := Gate(base, cur, gateOpt); err != nil {
		t.Errorf("director rules refused: %v", err)
	}
}

func TestReadResultRefusesImpossibleTrials(t *testing.T) {
	dir := t.TempDir()
	for name, edit := range map[string]func(r *Result){
		"appears twice":       func(r *Result) { r.Trials = append(r.Trials, r.Trials[0]) },
		"is not a rate":       func(r *Result) { r.Trials[1].RequestsPerSec = -5 },
		"not in the result's": func(r *Result) { r.Trials[2].Mode = topology.ModeTUN },
		// max_errors: 0 held for these.
		"counts are 0 or more":              func(r *Result) { r.Trials[3].Errors = -1e12 },
		"a latency of -5 ms":                func(r *Result) { r.Trials[4].Latency.P99 = -5 },
		"a latency of 1e+300 ms":            func(r *Result) { r.Trials[4].Latency.Max = 1e300 },
		"is not one of the config's 1 to 6": func(r *Result) { r.Trials[5].Trial = 7 },
		// 2,000 trials a point took the bootstrap seconds, 20 MB minutes.
		"config trials 2000": func(r *Result) { r.Config.Trials = 2000 },
	} {
		r := synthetic(1, 6, 0.02, natDR(0.5, 0.8))
		edit(r)
		path := filepath.Join(dir, "r.json")
		f, _ := os.Create(path)
		r.WriteJSON(f)
		f.Close()
		if _, err := ReadResult(path); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("got %v, want an error saying %q", err, name)
		}
	}
}

func TestThresholds(t *testing.T) {
	th, err := parseThresholds(strings.NewReader("limits:\n  - mode: nat\n    min_ratio: 0.6\n  - max_errors: 0\n    max_p99_ms: 5\n"))
	if err != nil {
		t.Fatal(err)
	}
	r := synthetic(1, 6, 0, natDR(0.5, 0.8))
	c := th.Check(r)
	if len(c.Broken) != 2 || !strings.Contains(c.Broken[0], "nat at 1 clients: ratio to direct 0.500 is below 0.600") || len(c.Unchecked) != 0 {
		t.Errorf("check %+v, want nat's ratio broken at 1 and 16 clients", c)
	}
}

func TestThresholdsRefuseWhatCannotBeChecked(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"", "is empty: an empty file would mean every limit holds"},
		{"# nothing but a comment\n", "is empty"},
		{"limits: []\n", "has no limits"},
		{"limits:\n  - mode: nat\n    min_ratoi: 0.6\n", "min_ratoi"},
		{"limits:\n  - mode: natt\n    max_errors: 0\n", `mode "natt" is unknown (use direct`},
		{"limits:\n  - mode: nat\n    min_ratio: .nan\n", "min_ratio NaN: use a number above 0"},
		{"limits:\n  - mode: nat\n    max_p99_ms: .inf\n", "max_p99_ms +Inf: use a finite number"},
		{"limits:\n  - mode: nat\n    max_errors: -1\n", "max_errors -1: use 0 or more"},
		{"limits:\n  - mode: direct\n    min_ratio: 0.9\n", "min_ratio on direct: direct is the reference"},
		{"limits:\n  - mode: nat\n", "checks nothing: give min_ratio"},
		{"limits:\n  - mode: nat\n    max_errors: 0\n---\nlimits:\n  - mode: dr\n    min_ratio: 9\n", "more than one YAML document"},
	} {
		_, err := parseThresholds(strings.NewReader(c.yaml))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want an error saying %q", c.yaml, err, c.want)
		}
	}
}

func TestThresholdsMatchingNothingAreUnchecked(t *testing.T) {
	th, err := parseThresholds(strings.NewReader("limits:\n  - mode: tun\n    min_ratio: 0.5\n  - mode: nat\n    clients: 7\n    max_errors: 0\n  - mode: '*'\n    min_ratio: 0.1\n"))
	if err != nil {
		t.Fatal(err)
	}
	directOnly := synthetic(3, 6, 0, nil)
	directOnly.Config.Modes = []topology.Mode{topology.ModeDirect, topology.ModeNAT}
	directOnly.Points = Summarise(directOnly)
	c := th.Check(directOnly)
	if len(c.Unchecked) != 2 || !strings.Contains(c.Unchecked[0], "limit 1 (mode tun at every client count) matches no point") ||
		!strings.Contains(c.Unchecked[1], "limit 2 (mode nat at 7 clients)") || !strings.Contains(c.Unchecked[1], "correct the limit") {
		t.Errorf("unchecked %q, want limits 1 and 2 named", c.Unchecked)
	}
}

// The shipped baselines are judged whole: against themselves every point
// passes and every shipped limit is checked.
func TestShippedBaselinesAreJudgedWhole(t *testing.T) {
	th, err := LoadThresholds(ShippedThresholds)
	if err != nil {
		t.Fatal(err)
	}
	eachShippedBaseline(t, func(f string, r *Result) {
		// Against a run that measured the same ratios, give or take a
		// millionth, every point is judged and none regressed.
		same := *r
		same.Trials = slices.Clone(r.Trials)
		for i := range same.Trials {
			if same.Trials[i].Mode != topology.ModeDirect {
				same.Trials[i].RequestsPerSec *= 1 + 1e-6
			}
		}
		same.Summarise()
		g, table := gateTable(t, r, &same)
		if !g.Passed() || len(g.Rows) != 4*len(r.Config.Clients) {
			t.Errorf("%s against itself: %d rows, passed=%v\n%s", f, len(g.Rows), g.Passed(), table)
		}
		// Against itself, byte for byte, it is a copy: never a pass.
		expectInconclusive(t, r, r, 4*len(r.Config.Clients), "ratios repeat the baseline's to the last bit")
		if c := th.Check(r); len(c.Unchecked) > 0 {
			t.Errorf("%s: unchecked limits %q", f, c.Unchecked)
		}
	})
}

// A shipped baseline is named after a kernel of the shipped list and was
// measured on the build that entry pins: re-pinning a kernel without
// re-measuring its baseline fails here, not in a user's gate.
func TestShippedBaselinesAreOfTheListedBuilds(t *testing.T) {
	list, err := vm.LoadKernels("")
	if err != nil {
		t.Fatal(err)
	}
	eachShippedBaseline(t, func(name string, r *Result) {
		i := slices.IndexFunc(list.Kernels, func(k vm.KernelSpec) bool { return k.Name == name })
		if i < 0 {
			t.Errorf("baseline %s: no kernel of that name in %s", name, fixtures.KernelsFile)
			return
		}
		k, e := list.Kernels[i], r.Env
		if e.KernelName != name || e.KernelPackage != k.PackageNames() || e.KernelVersion != k.VersionString() || e.KernelSHA256 != k.BuildID() {
			t.Errorf("baseline %s was measured on %s %s %s (%s), the list pins %s %s %s: measure it again (docs/benchmark.md)",
				name, e.KernelPackage, e.KernelVersion, e.KernelSHA256, e.KernelName, k.PackageNames(), k.VersionString(), k.BuildID())
		}
	})
}

// eachShippedBaseline reads every baseline the binary ships, by name,
// and checks it; the committed files are those the binary embeds.
func eachShippedBaseline(t *testing.T, check func(name string, r *Result)) {
	t.Helper()
	files, _ := filepath.Glob("../fixtures/baselines/*.json")
	if len(files) == 0 || len(files) != len(fixtures.Baselines()) {
		t.Fatalf("%d baseline files, %d shipped (%v): every file must be embedded", len(files), len(fixtures.Baselines()), fixtures.Baselines())
	}
	for _, name := range fixtures.Baselines() {
		r, err := ReadBaseline(name)
		if err != nil {
			t.Fatal(err)
		}
		check(name, r)
	}
	if _, err := ReadBaseline(files[0]); err != nil {
		t.Errorf("a baseline by its path: %v", err)
	}
}
