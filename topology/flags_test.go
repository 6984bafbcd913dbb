//go:build linux

package topology

import (
	"errors"
	"flag"
	"testing"
)

func TestSwitchFlag(t *testing.T) {
	var f SwitchFlag
	if f.String() != "static" || f.Set("learning") != nil || !f.Learning || f.String() != "learning" {
		t.Errorf("learning: %+v", f)
	}
	if f.Set("hub") == nil || !f.Learning {
		t.Errorf("hub was taken, or changed the flag: %+v", f)
	}
}

func TestSpecFlagsTellUsageFromFileErrors(t *testing.T) {
	for args, usage := range map[string]bool{
		"--topology=nosuch":      true,
		"--name=Bad/Name":        true,
		"-f=/nonexistent/t.yaml": false,
	} {
		var f SpecFlags
		fs := flag.NewFlagSet("up", flag.ContinueOnError)
		f.Register(fs)
		if err := fs.Parse([]string{args}); err != nil {
			t.Fatal(err)
		}
		_, err := f.Spec(fs)
		var fe *FlagError
		if err == nil || errors.As(err, &fe) != usage {
			t.Errorf("%s: error %v, want a FlagError: %v", args, err, usage)
		}
	}
}
