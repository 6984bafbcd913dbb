//go:build linux

package bench

import "testing"

func TestParseFraction(t *testing.T) {
	for in, want := range map[string]float64{"10%": 0.10, "0.05": 0.05, "0%": 0} {
		if got, err := parseFraction(in); err != nil || got != want {
			t.Errorf("parseFraction(%q) = %g, %v; want %g", in, got, err, want)
		}
	}
	for _, in := range []string{"100%", "-1", "x", "NaN", "nan%", "Inf", "-Inf%"} {
		if _, err := parseFraction(in); err == nil {
			t.Errorf("parseFraction(%q) should fail", in)
		}
	}
}
