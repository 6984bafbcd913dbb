//go:build linux

package bench

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFailoverValidate(t *testing.T) {
	c := FailoverConfig{Rounds: 3}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Mode != "nat" || len(c.Kinds) != 2 || len(c.Sync) != 2 || c.Rate != 50 {
		t.Errorf("defaults not filled in: %+v", c)
	}
	for _, bad := range []struct {
		c    FailoverConfig
		want string
	}{
		{FailoverConfig{Rounds: 0}, "rounds 0"},
		{FailoverConfig{Rounds: 1, Kinds: []string{"reboot"}}, `kind "reboot"`},
		{FailoverConfig{Rounds: 1, Mode: "direct"}, `mode "direct"`},
		{FailoverConfig{Rounds: 1, Rate: 1e6}, "rate"},
		{FailoverConfig{Rounds: 1, After: Seconds(time.Second)}, "4s-1m after"},
		{FailoverConfig{Rounds: 1, Name: "Bad Name"}, "lab name"},
	} {
		if err := bad.c.Validate(); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%+v: %v, want %q", bad.c, err, bad.want)
		}
	}
}

// A round seen by the load: steady before the fault, nothing answered for
// 3 s, steady again.
func TestAnalyseRound(t *testing.T) {
	cfg := FailoverConfig{Rounds: 1}
	cfg.Validate()
	at := time.Unix(1000, 0)
	var seen []observed
	for ms := -2000; ms < 6000; ms += 10 { // 100 requests/s
		s := at.Add(time.Duration(ms) * time.Millisecond)
		switch {
		case ms < 0 || ms >= 3000:
			seen = append(seen, observed{s, s.Add(2 * time.Millisecond), true})
		case ms < 1000: // lost, then answered on the SYN's retransmission
			seen = append(seen, observed{s, at.Add(3050 * time.Millisecond), true})
		default:
			seen = append(seen, observed{s, s.Add(5 * time.Second), false})
		}
	}
	r := FailoverRound{}
	analyseRound(&r, seen, at, cfg)
	if r.Requests != 800 || r.Failed != 200 {
		t.Errorf("requests %d failed %d, want 800 and 200", r.Requests, r.Failed)
	}
	if r.ClientS < 3.002 || r.ClientS > 3.003 {
		t.Errorf("client's takeover %.4f s, want the first answer to a request sent after the fault, at 3.002 s", r.ClientS)
	}
	// The 100 answers that waited for a retransmission land in one bin.
	if len(r.PerBin) != 80 || r.PerBin[0] != 100 || r.PerBin[25] != 0 || r.PerBin[50] != 1100 {
		t.Errorf("bins %v", r.PerBin)
	}
}

func TestFailoverFiles(t *testing.T) {
	cfg := FailoverConfig{Rounds: 2, Rate: 100, Kept: 20}
	cfg.Validate()
	r := &FailoverResult{Env: Env{Kernel: "6.1.0", CPUs: 2, Accel: "tcg"},
		Config: FailoverSettings{FailoverConfig: cfg, Bin: Seconds(100 * time.Millisecond), Advert: Seconds(time.Second)}}
	for _, s := range cfg.Sync {
		for _, k := range cfg.Kinds {
			for i := 1; i <= 2; i++ {
				took := map[string]float64{FailoverCrash: 3.1, FailoverTerm: 0.7}[k] + 0.1*float64(i)
				bins := make([]float64, 80)
				for b := range bins {
					if b < 20 || float64(b-20)/10 > took {
						bins[b] = 100
					}
				}
				r.Rounds = append(r.Rounds, FailoverRound{Kind: k, Sync: s, Round: i, NotifyS: took, VIPS: took, ClientS: took + 0.05,
					Requests: 800, Failed: int64(100 * took), Kept: 20, Survived: map[bool]int{true: 20, false: 0}[s], PerBin: bins})
			}
		}
	}
	r.Summary = SummariseFailover(r)
	if s := r.Summary[0]; s.Kind != FailoverCrash || !s.Sync || s.N != 2 || math.Abs(s.VIP.P50-3.25) > 1e-9 || math.Abs(s.VIP.Max-3.3) > 1e-9 || s.Survived != 40 {
		t.Errorf("summary %+v", s)
	}
	dir := t.TempDir()
	if err := r.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{FailoverJSON, FailoverText, FailoverSVG, FailoverPNG} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	back, err := ReadFailover(filepath.Join(dir, FailoverJSON))
	if err != nil || len(back.Rounds) != len(r.Rounds) {
		t.Fatalf("read back: %v", err)
	}
	text, _ := os.ReadFile(filepath.Join(dir, FailoverText))
	if !strings.Contains(string(text), "3.250 / 3.300 (2)") || !strings.Contains(string(text), "40 of 40") {
		t.Errorf("table:\n%s", text)
	}
}
