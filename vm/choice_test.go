//go:build linux

package vm

import (
	"strings"
	"testing"
)

func TestKernelChoiceNamesEveryConflict(t *testing.T) {
	for _, c := range []struct {
		choice KernelChoice
		want   []string
	}{
		{KernelChoice{Image: "/bz", Name: "debian-6.1", All: true}, []string{"--kernel-image boots your own kernel", "--matrix runs every kernel"}},
		{KernelChoice{Modules: "/lib/modules/x"}, []string{"--modules goes with --kernel-image"}},
		{KernelChoice{Name: "debian-9"}, []string{`kernel "debian-9" is not in the list`}},
		{KernelChoice{Image: "/bz"}, []string{"--kernel-image needs --modules"}},
	} {
		_, _, err := c.choice.Resolve()
		for _, w := range c.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%+v: %v, want %q", c.choice, err, w)
			}
		}
	}
	_, listed, err := KernelChoice{All: true}.Resolve()
	if err != nil || len(listed) < 2 {
		t.Errorf("every kernel of the shipped list: %d, %v", len(listed), err)
	}
	if _, listed, err := (KernelChoice{}).Resolve(); err != nil || len(listed) != 1 {
		t.Errorf("the list's default: %d, %v", len(listed), err)
	}
}

func TestCheckRunNamesEveryProblemAtOnce(t *testing.T) {
	err := CheckRun(&Options{Argv: []string{"true"}}, KernelChoice{Name: "no-such-kernel"}, true)
	if err == nil || !strings.Contains(err.Error(), "--fetch takes no command") || !strings.Contains(err.Error(), "no-such-kernel") {
		t.Errorf("CheckRun = %v, want both the command and the kernel named", err)
	}
}
