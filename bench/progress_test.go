//go:build linux

package bench

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// The host reads back what a guest's benchmark writes on the console: a
// step line Progress writes is one guestConsole rewrites.
func TestGuestConsoleReadsTheProgressLines(t *testing.T) {
	var guest, host bytes.Buffer
	p := NewProgress("bench", false)
	p.w = &guest
	p.Step(0, 4, -1, 0, Step{Phase: "sweep", Trial: 1, Mode: "nat", Clients: 8}.String())
	p.Step(2, 4, 0.5, time.Minute, Step{Phase: "one client", Mode: "dr"}.String())
	c := &guestConsole{out: &host, sampler: &vcpuSampler{samples: map[int]HostSample{}}}
	for _, line := range strings.SplitAfter(guest.String(), "\n") {
		if line != "" && !progressLine.MatchString(strings.TrimSuffix(line, "\n")) {
			t.Errorf("guestConsole does not read %q", line)
		}
		c.Write([]byte(line))
	}
	if got := host.String(); !strings.Contains(got, "step 3 of 4 (50%), ") || !strings.HasSuffix(got, " left: one client: dr\n") {
		t.Errorf("rewritten:\n%s", got)
	}
}
