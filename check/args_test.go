//go:build linux

package check

import (
	"slices"
	"strings"
	"testing"
)

func TestGuestArgsDropWhereKernelAndJUnit(t *testing.T) {
	args := []string{"--keepalived", "a.conf", "--where", "vm", "-kernel=debian-6.1", "--junit", "j.xml", "--json", "-where=auto", "--kernel", "k"}
	want := []string{"--keepalived", "a.conf", "--json"}
	if got := GuestArgs(args); !slices.Equal(got, want) {
		t.Errorf("GuestArgs(%q) = %q, want %q", args, got, want)
	}
}

func TestParseGroupsNamesEveryUnknownGroup(t *testing.T) {
	got, err := ParseGroups(" " + Groups[0] + ",, " + Groups[1])
	if err != nil || !slices.Equal(got, Groups[:2]) {
		t.Errorf("ParseGroups = %q, %v; want %q", got, err, Groups[:2])
	}
	if _, err := ParseGroups("nosuch," + Groups[0] + ",other"); err == nil ||
		!strings.Contains(err.Error(), "--checks nosuch") || !strings.Contains(err.Error(), "--checks other") {
		t.Errorf("ParseGroups of unknown groups: %v", err)
	}
	if got, err := ParseGroups(""); err != nil || got != nil {
		t.Errorf("ParseGroups(\"\") = %q, %v; want every group (nil)", got, err)
	}
}
