//go:build linux

package main

import (
	"os"

	"golang.org/x/term"
)

// onTerminal says whether stderr is a terminal that understands escapes (a
// VM's serial console is a terminal even when the host's output goes to a
// CI log; lvslab vm passes TERM on only when the host's is one).
func onTerminal() bool {
	t := os.Getenv("TERM")
	return term.IsTerminal(int(os.Stderr.Fd())) && t != "" && t != "dumb"
}
