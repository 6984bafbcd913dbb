//go:build linux

package vm

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// The guest's console is read in chunks, not with bufio.Scanner: a
// Scanner stops for good at a line longer than its buffer (and QEMU then
// blocks on a full pipe until --timeout), and it hands over nothing of a
// line until its newline, so Ginkgo's progress dots would show only at the
// end of a suite.
const (
	// maxConsoleLine is kept of a line; the rest is counted and dropped.
	maxConsoleLine = 64 << 10
	// partialAfter is how long a line without its newline waits before
	// what arrived of it is shown.
	partialAfter = 300 * time.Millisecond
)

// lineSplitter cuts console output into lines. A line is handed to line
// when its newline arrives, with how many of its bytes were already handed
// out by Flush; Flush hands out what arrived of the current line.
type lineSplitter struct {
	// line receives each complete line (without "\r\n") and the length of
	// its start already passed to partial.
	line    func(text string, shown int)
	partial func(text string)
	// mayFlush says whether a line's start can be shown before its end
	// (not a marker lvslab must read whole).
	mayFlush func(start []byte) bool

	cur     []byte
	shown   int
	dropped int
}

func (s *lineSplitter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i]
		}
		if room := maxConsoleLine - len(s.cur); len(chunk) > room {
			s.dropped += len(chunk) - room
			chunk = chunk[:room]
		}
		s.cur = append(s.cur, chunk...)
		if i < 0 {
			break
		}
		p = p[i+1:]
		text := string(bytes.TrimRight(s.cur, "\r"))
		if s.dropped > 0 {
			text += fmt.Sprintf(" [lvslab: %d more bytes of this line cut]", s.dropped)
		}
		s.line(text, min(s.shown, len(text)))
		s.cur, s.shown, s.dropped = s.cur[:0], 0, 0
	}
	return n, nil
}

// Flush hands out what arrived of the current line and was not shown yet.
func (s *lineSplitter) Flush() {
	end := len(s.cur)
	// Never half a character: Ginkgo's progress dot is three bytes.
	for i := 1; i <= utf8.UTFMax && end-i >= s.shown; i++ {
		if utf8.RuneStart(s.cur[end-i]) {
			if !utf8.FullRune(s.cur[end-i : end]) {
				end -= i
			}
			break
		}
	}
	if s.shown < end && s.mayFlush(s.cur) {
		s.partial(string(s.cur[s.shown:end]))
		s.shown = end
	}
}

// pump copies r into s until r ends, flushing a partial line once no byte
// has come for partialAfter.
func pump(r io.Reader, s *lineSplitter) {
	chunks := make(chan []byte)
	go func() {
		defer close(chunks)
		for {
			buf := make([]byte, 32<<10)
			n, err := r.Read(buf)
			if n > 0 {
				chunks <- buf[:n]
			}
			if err != nil {
				return
			}
		}
	}()
	idle := time.NewTimer(partialAfter)
	defer idle.Stop()
	for {
		select {
		case c, ok := <-chunks:
			if !ok {
				s.Flush()
				return
			}
			s.Write(c)
			idle.Reset(partialAfter)
		case <-idle.C:
			s.Flush()
		}
	}
}

// kernelDeath keeps what the guest kernel printed as it died, so that the
// error names the oops and where it struck rather than the console's last
// lines (the guest boots with oops=panic and panic=-1: QEMU just ends).
type kernelDeath struct{ oops, where, panic string }

var kernelTime = regexp.MustCompile(`\[ *[0-9]+\.[0-9]+\] `)

// read takes one console line.
func (k *kernelDeath) read(line string) {
	// A kernel line starts with its time since boot, "[  481.031199] ",
	// maybe after a command's output that had no newline yet.
	loc := kernelTime.FindStringIndex(line)
	if loc == nil {
		return
	}
	msg := line[loc[1]:]
	switch {
	case k.oops == "" && startsWithAny(msg, "Oops:", "BUG:", "kernel BUG at", "general protection fault"):
		k.oops = msg
	case k.where == "" && strings.HasPrefix(msg, "RIP: 0010:"):
		k.where = strings.TrimPrefix(msg, "RIP: 0010:")
	case strings.HasPrefix(msg, "Kernel panic - not syncing"):
		k.panic = msg
	}
}

func startsWithAny(s string, prefixes ...string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// err is the guest kernel's death as an error, or nil if it did not die.
func (k *kernelDeath) err() error {
	if k.panic == "" {
		return nil
	}
	what := k.panic
	if k.oops != "" {
		what += "; " + k.oops
		if k.where != "" {
			what += " in " + k.where
		}
	}
	return fmt.Errorf("the guest kernel died (%s): the command did not finish, so its results are incomplete; the kernel's own lines are in the console above. A guest kernel dying is no result of the command: run it again, and report it with those lines if it repeats on this kernel", what)
}
