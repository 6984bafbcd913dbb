//go:build linux

package bench

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/lvslab/lvslab/fixtures"
)

func TestSecondsAreNumbersOfSeconds(t *testing.T) {
	if b, err := json.Marshal(Seconds(1500 * time.Millisecond)); err != nil || string(b) != "1.5" {
		t.Errorf("1.5 s marshals as %s (%v)", b, err)
	}
	var s Seconds
	if err := json.Unmarshal([]byte("0.3"), &s); err != nil || s.Duration() != 300*time.Millisecond {
		t.Errorf("0.3 reads as %v (%v), want 300ms to the nanosecond", s.Duration(), err)
	}
	for _, bad := range []string{`"1s"`, `1e300`, `true`} {
		if err := json.Unmarshal([]byte(bad), &s); err == nil {
			t.Errorf("%s read as a duration (%s)", bad, s)
		}
	}
}

// Results written before Settings embedded Config still load, and a result
// written now keeps every field of theirs, under the same name and unit.
func TestShippedBaselinesKeepTheirConfig(t *testing.T) {
	eachShippedBaseline(t, func(f string, r *Result) {
		c := r.Config
		if c.Duration.Duration() != 1500*time.Millisecond || c.Warmup.Duration() != 300*time.Millisecond ||
			c.Latency.Duration() != time.Second || c.Light.Duration.Duration() != 500*time.Millisecond ||
			c.Connection != "new" || c.BodyBytes != 128 || c.RealServers != 8 {
			t.Errorf("%s: config read as %+v", f, c)
		}
		data, err := fixtures.Baseline(f)
		if err != nil {
			t.Fatal(err)
		}
		var shipped struct {
			Config   map[string]any `json:"config"`
			Stations *struct {
				Config map[string]any `json:"config"`
			} `json:"stations"`
		}
		if err := json.Unmarshal(data, &shipped); err != nil {
			t.Fatal(err)
		}
		sameFields(t, f, shipped.Config, r.Config)
		if shipped.Stations != nil {
			sameFields(t, f+" (stations)", shipped.Stations.Config, r.Stations.Config)
		}
	})
}

func sameFields(t *testing.T, what string, shipped map[string]any, now Settings) {
	t.Helper()
	data, err := json.Marshal(now)
	if err != nil {
		t.Fatal(err)
	}
	var written map[string]any
	if err := json.Unmarshal(data, &written); err != nil {
		t.Fatal(err)
	}
	for k, v := range shipped {
		if !reflect.DeepEqual(written[k], v) {
			t.Errorf("%s: config %q is %v again, was %v", what, k, written[k], v)
		}
	}
}
