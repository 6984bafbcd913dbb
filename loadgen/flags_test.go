//go:build linux

package loadgen

import (
	"strings"
	"testing"
	"time"
)

func TestAsFlagsNamesEverySettingByItsFlag(t *testing.T) {
	c := Config{Clients: 0, Duration: time.Second, Timeout: time.Second, Path: "/"}
	err := c.CheckSettings()
	if err == nil {
		t.Fatal("0 clients: no error")
	}
	got := AsFlags(err).Error()
	if !strings.HasPrefix(got, "--clients ") || strings.Contains(got, "\n") {
		t.Errorf("AsFlags = %q, want one line starting with --clients", got)
	}
}

func TestProgressPrinterOffATerminalWritesEveryTenSeconds(t *testing.T) {
	var b strings.Builder
	p := ProgressPrinter(&b, "lvslab load", false, 20*time.Second)
	for at := 1; at <= 20; at++ {
		p(Second{At: at, Requests: 100})
	}
	if n := strings.Count(b.String(), "\n"); n != 2 {
		t.Errorf("%d lines in 20 seconds, want 2:\n%s", n, b.String())
	}
	if !strings.HasPrefix(b.String(), "lvslab load: 10s of 20s (50%)") {
		t.Errorf("first line: %q", b.String())
	}
}
