package conf

import (
	"fmt"
	"math"
	"time"
)

// The extraction reads the block trees the way keepalived's handlers
// read their keywords (core/global_parser.c, vrrp/vrrp_parser.c,
// vrrp/vrrp_data.c, check/check_parser.c, check/check_data.c, the
// checkers): what a handler refuses is a Problem and leaves the setting
// unset; where a handler keeps the first value and refuses the next, so
// does the reader; elsewhere the last value wins.

type extractor struct {
	rd      *reader
	f       *File
	scripts map[string]*Script
	procs   map[string]*TrackedProcess
}

// problem records a Problem at a node's line.
func (x *extractor) problem(n *Node, format string, args ...any) {
	x.rd.problem(n.Line.Pos, fmt.Sprintf(format, args...))
}

// arg is strvec_slot(strvec, i) for i >= 1: a handler that reads a word
// the line does not have makes keepalived's process exit
// (null_strvec()).
func (x *extractor) arg(n *Node, i int, proc Process) (string, bool) {
	if i-1 < len(n.Args) {
		return n.Args[i-1], true
	}
	x.problem(n, "'%s' is missing a parameter: keepalived's %s process reports it and exits (keepalived stops)", n.Keyword, proc)
	return "", false
}

// number reads a handler's number into dst: refused, it is a Problem and
// leaves dst alone; with a warning (a running keepalived takes it), it is
// a Problem and set.
func number[T any](x *extractor, dst *Setting[T], n *Node, proc Process, parse func(string) (T, error)) bool {
	s, ok := x.arg(n, 1, proc)
	if !ok {
		return false
	}
	v, err := parse(s)
	if err != nil {
		x.problem(n, "%s: %v", n.Keyword, err)
		if !isWarning(err) {
			return false
		}
	}
	*dst = set(v, n.Line.Pos)
	return true
}

func (x *extractor) uint(dst *Setting[int], n *Node, proc Process, lo, hi uint64, ignore bool) bool {
	return number(x, dst, n, proc, func(s string) (int, error) {
		v, err := readUnsigned(s, lo, hi, ignore)
		return int(v), err
	})
}

func (x *extractor) timer(dst *Setting[time.Duration], n *Node, proc Process, lo, hi uint64) bool {
	return number(x, dst, n, proc, func(s string) (time.Duration, error) {
		v, err := readTimer(s, lo, hi, true)
		return micros(v), err
	})
}

// seconds reads a whole number of seconds (the handlers that multiply
// read_unsigned by TIMER_HZ).
func (x *extractor) seconds(dst *Setting[time.Duration], n *Node, proc Process, lo uint64) bool {
	var v Setting[int]
	if !x.uint(&v, n, proc, lo, math.MaxUint32/1000000, true) {
		return false
	}
	*dst = set(time.Duration(v.Value)*time.Second, n.Line.Pos)
	return true
}

// word sets dst to the keyword's first word, if it has one (the
// handlers that check the word count before reading it).
func word(dst *Setting[string], n *Node) {
	if len(n.Args) > 0 {
		*dst = set(n.Args[0], n.Line.Pos)
	}
}

// repeat reads a GARP repeat count: keepalived takes 0 (for
// compatibility) and makes it 1.
func (x *extractor) repeat(dst *Setting[int], n *Node, proc Process) {
	if x.uint(dst, n, proc, 0, math.MaxUint32, true) && dst.Value == 0 {
		x.problem(n, "%s must be greater than 0, setting to 1", n.Keyword)
		dst.Value = 1
	}
}

// flag is a keyword with an optional true/false word (check_true_false).
func (x *extractor) flag(dst *Setting[bool], n *Node) {
	v := true
	if len(n.Args) > 0 {
		switch checkTrueFalse(n.Args[0]) {
		case 1:
		case 0:
			v = false
		default:
			x.problem(n, "invalid %s %s specified - ignoring", n.Keyword, n.Args[0])
			return
		}
	}
	*dst = set(v, n.Line.Pos)
}

// command reads a line naming a program (notify_script_init,
// set_script_params_array): the line is split again with shell-like
// quoting; its second word is the command (one word: quote a command with
// arguments), the words after it the user and group when withUser.
func (x *extractor) command(n *Node, block string, withUser bool) *Command {
	x.recordCommand(n, block)
	words, ok := quotedWords(n.Line.Text)
	if !ok || len(words) < 2 {
		x.problem(n, "Unable to parse %s script: keepalived ignores it", n.Keyword)
		return nil
	}
	args, ok := quotedWords(words[1])
	if !ok || len(args) == 0 {
		x.problem(n, "Unable to parse script '%s' - ignoring", words[1])
		return nil
	}
	c := &Command{Args: args, Pos: n.Line.Pos}
	if withUser {
		if len(words) > 2 {
			c.User = words[2]
		}
		if len(words) > 3 {
			c.Group = words[3]
		}
	} else if len(words) > 2 {
		x.problem(n, "%s: keepalived runs only %q, without the words after it: quote the whole command", n.Keyword, words[1])
	}
	return c
}

func (x *extractor) recordCommand(n *Node, block string) {
	for _, c := range x.f.Commands {
		if c.Line.Pos == n.Line.Pos && c.Keyword == n.Keyword && c.Line.Text == n.Line.Text {
			return
		}
	}
	x.f.Commands = append(x.f.Commands, CommandLine{Keyword: n.Keyword, Line: n.Line, Raw: x.f.Raw(n.Line.Pos), Block: block})
}
