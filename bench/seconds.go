//go:build linux

package bench

import (
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// Seconds is a duration that JSON holds as a number of seconds
// ("duration_s": 1.5), as results.json, baselines and failover.json always
// have, so that one struct is both what a run is given and what its result
// records.
type Seconds time.Duration

// Duration is s as a time.Duration.
func (s Seconds) Duration() time.Duration { return time.Duration(s) }

// Seconds is s in seconds.
func (s Seconds) Seconds() float64 { return time.Duration(s).Seconds() }

func (s Seconds) String() string { return time.Duration(s).String() }

// MarshalJSON writes s as a number of seconds.
func (s Seconds) MarshalJSON() ([]byte, error) { return json.Marshal(s.Seconds()) }

// UnmarshalJSON reads a number of seconds, to the nanosecond.
func (s *Seconds) UnmarshalJSON(data []byte) error {
	var v float64
	if err := json.Unmarshal(data, &v); err != nil {
		return fmt.Errorf("a duration is a number of seconds, like 1.5: %w", err)
	}
	ns := math.Round(v * float64(time.Second))
	if !(ns >= math.MinInt64 && ns < math.MaxInt64) { // MaxInt64 rounds up to 2⁶³ as a float64
		return fmt.Errorf("duration of %g s is out of range", v)
	}
	*s = Seconds(ns)
	return nil
}
