//go:build linux

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lvslab/lvslab/bench"
	"github.com/lvslab/lvslab/fixtures"
	"github.com/lvslab/lvslab/topology"
)

// writeResult writes a result where NAT runs at ratio × direct's rate in
// each of trials trials, spread by a distinct fraction of a percent each
// as measurements are, and direct at 1000 req/s.
func writeResult(t *testing.T, dir, name string, ratio float64, trials int, modes ...topology.Mode) string {
	t.Helper()
	if len(modes) == 0 {
		modes = []topology.Mode{topology.ModeDirect, topology.ModeNAT}
	}
	r := &bench.Result{Config: bench.Settings{Config: bench.Config{Modes: modes, Clients: []int{16}, Trials: trials}, Connection: "new"}}
	for trial := 1; trial <= trials; trial++ {
		// Each file measures its own values: equal ones would be a copy.
		spread := 1 + 0.002*float64(trial) - 0.007 + 1e-9*float64(len(name)+int(name[0]))
		for _, m := range modes {
			rps := 1000.0
			if m != topology.ModeDirect {
				rps = 1000 * ratio * spread
			}
			r.Trials = append(r.Trials, bench.Trial{Mode: m, Clients: 16, Trial: trial, RequestsPerSec: rps})
		}
	}
	path := filepath.Join(dir, name)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := r.WriteJSON(f); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeText(t *testing.T, dir, name, text string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// captured runs lvslab with stdout and stderr in files, and returns the
// exit status and both outputs.
func captured(t *testing.T, args ...string) (int, string) {
	t.Helper()
	out, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	stdout, stderr := os.Stdout, os.Stderr
	os.Stdout, os.Stderr = out, out
	code := run(args)
	os.Stdout, os.Stderr = stdout, stderr
	data, _ := os.ReadFile(out.Name())
	return code, string(data)
}

func TestGateExitStatus(t *testing.T) {
	dir := t.TempDir()
	base := writeResult(t, dir, "base.json", 0.8, 6)
	same := writeResult(t, dir, "same.json", 0.8, 6)
	slow := writeResult(t, dir, "slow.json", 0.6, 6)
	base3 := writeResult(t, dir, "base3.json", 0.8, 3)
	half3 := writeResult(t, dir, "half3.json", 0.4, 3)
	withDR := writeResult(t, dir, "withdr.json", 0.8, 6, topology.ModeDirect, topology.ModeNAT, topology.ModeDR)
	zero := writeResult(t, dir, "zero.json", 0, 6)
	other := writeResult(t, dir, "other.json", 0.8, 6)
	if r, err := bench.ReadResult(other); err == nil {
		r.Config.BodyBytes = 999999
		f, _ := os.Create(other)
		r.WriteJSON(f)
		f.Close()
	}
	limits := writeText(t, dir, "limits.yaml", "limits:\n  - mode: nat\n    min_ratio: 0.9\n")
	empty := writeText(t, dir, "empty.yaml", "")
	nothing := writeText(t, dir, "nothing.yaml", "limits:\n  - mode: tun\n    min_ratio: 0.5\n")
	twoDocs := writeText(t, dir, "two.yaml", "limits:\n  - mode: nat\n    max_errors: 0\n---\nlimits: []\n")
	shipped := writeText(t, dir, "shipped.json", string(must(fixtures.Baseline("debian-6.1"))))
	for _, c := range []struct {
		name string
		args []string
		want int
		says string
	}{
		{"same build passes", []string{"--baseline", base, same}, 0, "gate: pass"},
		{"25% slower fails", []string{"--baseline", base, slow}, exitRegression, "gate: FAIL"},
		{"a broken fixed limit", []string{"--baseline", base, "--thresholds", limits, same}, exitThreshold, "threshold broken: nat at 16 clients"},
		{"a run missing a mode of the baseline", []string{"--baseline", withDR, same}, exitInconclusive, "this run did not measure dr"},
		{"3 + 3 trials, 50% drop", []string{"--baseline", base3, half3}, exitInconclusive, "--trials 4 or more"},
		{"--margin NaN", []string{"--baseline", base, "--margin", "NaN", slow}, 2, `--margin: "NaN": use 0% to 99%`},
		{"--alpha NaN", []string{"--baseline", base, "--alpha", "NaN", slow}, 2, "alpha NaN: use a significance level in (0, 1)"},
		{"an empty thresholds file", []string{"--baseline", base, "--thresholds", empty, same}, exitCannotJudge, "is empty"},
		{"two YAML documents", []string{"--baseline", base, "--thresholds", twoDocs, same}, exitCannotJudge, "more than one YAML document"},
		{"a threshold matching nothing", []string{"--baseline", base, "--thresholds", nothing, same}, exitInconclusive, "matches no point"},
		{"a baseline ratio of 0", []string{"--baseline", zero, same}, exitInconclusive, "baseline's ratio is 0"},
		{"a baseline ratio of 0, as JSON", []string{"--baseline", zero, "--json", same}, exitInconclusive, `"inconclusive": 1`},
		{"no baseline", []string{same}, 2, "--baseline is required"},
		{"bad margin", []string{"--baseline", base, "--margin", "ten", same}, 2, "is not a number"},
		{"not a result", []string{"--baseline", base, limits}, exitCannotJudge, "cannot judge"},
		{"a missing file", []string{"--baseline", filepath.Join(dir, "nope.json"), same}, exitCannotJudge, "no such file"},
		{"a shipped baseline by name, against itself, with the shipped limits: a copy, yet the limits read", []string{"--baseline", "debian-6.1", "--thresholds", "shipped", shipped}, exitInconclusive, "every limit of shipped holds"},
		{"a name no baseline has", []string{"--baseline", "debian-3.0", same}, exitCannotJudge, `no baseline named "debian-3.0" is shipped (debian-5.10, debian-6.1, debian-6.12-rt, debian-6.12)`},
		{"a copy of the baseline", []string{"--baseline", base, base}, exitInconclusive, "repeat the baseline's to the last bit"},
		{"a run of other settings", []string{"--baseline", base, other}, exitCannotJudge, "body bytes: the baseline 0, this run 999999 (--body-size)"},
	} {
		got, out := captured(t, append([]string{"gate"}, c.args...)...)
		if got != c.want || !strings.Contains(out, c.says) {
			t.Errorf("%s: exit status %d (want %d), output lacks %q?\n%s", c.name, got, c.want, c.says, out)
		}
	}
}

func TestGateHelpListsEveryExitStatus(t *testing.T) {
	code, out := captured(t, "gate", "--help")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"  1  regression", "  3  a --thresholds limit", "  4  inconclusive", "  5  could not judge", "  2  a usage error", "  0  pass"} {
		if !strings.Contains(out, want) {
			t.Errorf("gate --help lacks %q:\n%s", want, out)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
