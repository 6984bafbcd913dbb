package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/lvslab/lvslab/bench"
	"github.com/lvslab/lvslab/topology"
)

// writeResult writes a result where NAT runs at ratio × direct's rate in
// each of six trials (spread by ±1 %).
func writeResult(t *testing.T, dir, name string, ratio float64) string {
	t.Helper()
	r := &bench.Result{Config: bench.Settings{Modes: []topology.Mode{topology.ModeDirect, topology.ModeNAT},
		Clients: []int{16}, Trials: 6, Connection: "new"}}
	for trial := 1; trial <= 6; trial++ {
		spread := 1 + 0.01*float64(trial%3-1)
		r.Trials = append(r.Trials,
			bench.Trial{Mode: topology.ModeDirect, Clients: 16, Trial: trial, RequestsPerSec: 1000},
			bench.Trial{Mode: topology.ModeNAT, Clients: 16, Trial: trial, RequestsPerSec: 1000 * ratio * spread})
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

func TestGateExitStatus(t *testing.T) {
	dir := t.TempDir()
	base := writeResult(t, dir, "base.json", 0.8)
	same := writeResult(t, dir, "same.json", 0.8)
	slow := writeResult(t, dir, "slow.json", 0.6)
	limits := filepath.Join(dir, "limits.yaml")
	os.WriteFile(limits, []byte("limits:\n  - mode: nat\n    min_ratio: 0.9\n"), 0o644)
	devnull, _ := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	defer devnull.Close()
	stdout := os.Stdout
	os.Stdout = devnull // the tables are not what this test reads
	defer func() { os.Stdout = stdout }()
	for _, c := range []struct {
		name string
		args []string
		want int
	}{
		{"same build passes", []string{"gate", "--baseline", base, same}, 0},
		{"25% slower fails", []string{"gate", "--baseline", base, slow}, exitRegression},
		{"a broken fixed limit", []string{"gate", "--baseline", base, "--thresholds", limits, same}, exitThreshold},
		{"no baseline", []string{"gate", same}, 2},
		{"bad margin", []string{"gate", "--baseline", base, "--margin", "ten", same}, 2},
		{"not a result", []string{"gate", "--baseline", base, limits}, 2},
	} {
		if got := run(c.args); got != c.want {
			t.Errorf("%s: exit status %d, want %d", c.name, got, c.want)
		}
	}
}

func TestParseFraction(t *testing.T) {
	for in, want := range map[string]float64{"10%": 0.10, "0.05": 0.05, "0%": 0} {
		if got, err := parseFraction(in); err != nil || got != want {
			t.Errorf("parseFraction(%q) = %g, %v; want %g", in, got, err, want)
		}
	}
	for _, in := range []string{"100%", "-1", "x"} {
		if _, err := parseFraction(in); err == nil {
			t.Errorf("parseFraction(%q) should fail", in)
		}
	}
}
