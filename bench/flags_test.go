//go:build linux

package bench

import (
	"flag"
	"strings"
	"testing"
)

func TestFlagsConfig(t *testing.T) {
	parse := func(args ...string) (*Flags, *flag.FlagSet) {
		var f Flags
		fs := flag.NewFlagSet("bench", flag.ContinueOnError)
		f.Register(fs)
		if err := fs.Parse(append([]string{"--out", t.TempDir()}, args...)); err != nil {
			t.Fatal(err)
		}
		return &f, fs
	}
	for _, c := range []struct{ args, want string }{
		{"--clients=0", `--clients: "0" is not a client count`},
		{"--conn=bogus", `--conn "bogus": use new or keepalive`},
		{"--latency=0 --light-trials=3", "a light-load run needs the single-client run"},
	} {
		f, fs := parse(strings.Fields(c.args)...)
		if _, err := f.Config(fs); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.args, err, c.want)
		}
	}
	// No single-client run and no --light-trials: no light load either.
	f, fs := parse("--latency=0", "--conn=keepalive", "--clients=4,8")
	cfg, err := f.Config(fs)
	if err != nil || cfg.Light.Trials != 0 || !cfg.KeepAlive || len(cfg.Clients) != 2 {
		t.Errorf("Config = %+v, %v", cfg, err)
	}
}
