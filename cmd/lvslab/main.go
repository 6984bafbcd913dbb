//go:build linux

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/lvslab/lvslab/vm"
)

type command struct {
	name    string
	summary string
	usage   string
	hidden  bool
	// root says the command needs root before it does anything.
	root bool
	run  func(ctx context.Context, fs *flag.FlagSet, args []string) error
}

var commands []*command

func register(c *command) { commands = append(commands, c) }

// usageError is a mistake on the command line: exitUsage.
type usageError struct{ error }

func main() {
	// The same binary is the VM's init and its modprobe (see lvslab vm).
	if vm.IsGuest() {
		os.Exit(vm.GuestMain())
	}
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) > 1 {
			if c := find(args[1]); c != nil {
				return run([]string{c.name, "--help"})
			}
		}
		printHelp(os.Stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitPass
	}
	c := find(args[0])
	if c == nil {
		fmt.Fprintf(os.Stderr, "lvslab: unknown command %q (see lvslab help)\n", args[0])
		return exitUsage
	}
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := c.run(ctx, fs, args[1:])
	switch {
	case err == nil:
		return exitPass
	case errors.Is(err, flag.ErrHelp):
		printUsage(os.Stdout, c, fs)
		return exitPass
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(os.Stderr, "lvslab %s: %v (see lvslab %s --help)\n", c.name, ue.error, c.name)
		return exitUsage
	}
	var ee exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintf(os.Stderr, "lvslab %s: %s\n", c.name, ee.msg)
		}
		return ee.code
	}
	fmt.Fprintf(os.Stderr, "lvslab %s: %s\n", c.name, strings.ReplaceAll(err.Error(), "\n", "\n  "))
	return exitFailure
}

// lvslab's exit statuses, decided here alone (the help texts are built from
// them), so that CI can tell verdicts apart. A verdict that could not be
// reached has a status of its own and is never 0. lvslab vm exits with the
// guest command's status instead.
const (
	exitPass = 0
	// exitFailure: something failed (a spec, a command, lvslab gate's
	// "regressed").
	exitFailure = 1
	// exitUsage: a mistake on the command line (usageError).
	exitUsage = 2
	// exitThreshold: lvslab gate found a fixed limit broken.
	exitThreshold = 3
	// exitInconclusive: lvslab gate could not judge a point of the
	// baseline or a limit (missing, too few trials, another kernel build);
	// nothing judged regressed.
	exitInconclusive = 4
	// exitCannotJudge: lvslab gate could not judge at all (a file missing
	// or unreadable), distinct from exitFailure, its "regressed".
	exitCannotJudge = 5
	// exitNothingRan: lvslab summary found that no spec ran (a label
	// filter that matched none).
	exitNothingRan = 6
	// exitInterrupted: Ctrl-C or SIGTERM ended the run (128 + SIGINT, as
	// a shell reports it).
	exitInterrupted = 130
)

// exitError carries a specific exit status (e.g. the guest's in lvslab vm).
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }

func find(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// parse parses flags, rejects stray arguments and checks for root.
func parse(c *command, fs *flag.FlagSet, args []string, allowArgs bool) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if !allowArgs && fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	if c.root && os.Geteuid() != 0 {
		return fmt.Errorf("needs root (network namespaces and netlink): run sudo lvslab %s", c.name)
	}
	return nil
}

// parseInterspersed parses flags wherever they stand among the words (Go's
// flag package stops at the first word), returns the words and checks for
// root. Everything after "--" is a word.
func parseInterspersed(c *command, fs *flag.FlagSet, args []string) ([]string, error) {
	var words []string
	for rest := args; ; {
		dashes := slices.Index(rest, "--")
		if err := parse(c, fs, rest, true); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return words, nil
		}
		// What flag stopped at: the words after "--", or one word.
		if dashes >= 0 && len(rest)-dashes-1 == fs.NArg() {
			return append(words, fs.Args()...), nil
		}
		words, rest = append(words, fs.Arg(0)), fs.Args()[1:]
	}
}

func printHelp(w io.Writer) {
	fmt.Fprintln(w, "lvslab builds Linux Virtual Server labs from network namespaces, loads them and tears them down.")
	fmt.Fprintln(w, "\nUsage: lvslab <command> [flags]\n\nCommands:")
	for _, c := range commands {
		if !c.hidden {
			fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
		}
	}
	fmt.Fprintln(w, "\nRun lvslab <command> --help for its flags.")
}

func printUsage(w io.Writer, c *command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: lvslab %s\n\n%s\n", c.usage, c.summary)
	// A flag without usage text is lvslab's own (how a VM gets its
	// configuration), not the user's: it is left out.
	shown, listed := flag.NewFlagSet(fs.Name(), flag.ContinueOnError), false
	fs.VisitAll(func(f *flag.Flag) {
		if f.Usage != "" {
			shown.Var(f.Value, f.Name, f.Usage)
			listed = true
		}
	})
	if listed {
		shown.SetOutput(w)
		fmt.Fprintln(w, "\nFlags:")
		shown.PrintDefaults()
	}
}
