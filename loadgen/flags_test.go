//go:build linux

package loadgen

import (
	"flag"
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

func TestFlagsSettingsRefusesByFlag(t *testing.T) {
	for args, want := range map[string]string{
		"--timeout=0s":                     "--timeout 0s",
		"--clients=0 --latency-from=bogus": "--clients 0",
	} {
		var f Flags
		fs := flag.NewFlagSet("load", flag.ContinueOnError)
		f.Register(fs)
		if err := fs.Parse(strings.Fields(args)); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Settings(); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: Settings() error %v, want one starting with %q", args, err, want)
		}
	}
	var f Flags
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	f.Register(fs)
	c, err := f.Settings()
	if err != nil || c.Clients != 16 || c.LatencyFrom != Clock("connect") || c.Timeout != 5*time.Second {
		t.Errorf("defaults: %+v, %v", c, err)
	}
}
