//go:build linux

package check

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lvslab/lvslab/harness/keepalived/conf"
	"github.com/lvslab/lvslab/topology"
)

// keepalived -t's exit statuses (keepalived 2.2.7, scheduler.h; its man
// page says 3, 4, 5). keepalived keeps the numerically largest class of
// error it saw, not the worst, so a message's own words decide too.
const (
	testOK       = 0
	testCannot   = 4 // a missing file or interface, a fatal error
	testErrors   = 5 // errors keepalived runs despite
	testSecurity = 6 // scripts without enable_script_security
)

// Acceptance is keepalived's own verdict on a director's copy, run
// inside the director's namespace where its interfaces exist.
type Acceptance struct {
	Director string
	Exit     int
	Messages []Message
}

// Message is one line keepalived -t printed, with the operator's
// file:line it names or that the lab found for it.
type Message struct {
	Text  string
	Where []Pos
}

// CannotRun says whether keepalived would not start on the file.
func (a *Acceptance) CannotRun() bool {
	return a.Exit == testCannot || slices.ContainsFunc(a.Messages, func(m Message) bool { return fatalMessage(m.Text) })
}

// fatalMessage is a message keepalived stops on, whatever its exit says
// (it reports the largest class seen, so an unknown keyword beside a
// missing interface exits 5).
func fatalMessage(s string) bool {
	for _, f := range []string{"Non-existent interface specified", "Config files missing", "No config files matched", "requires either an interface"} {
		if strings.Contains(s, f) {
			return true
		}
	}
	return false
}

// testConfig runs keepalived -t on a director's copy inside its node.
func testConfig(ctx context.Context, n *topology.Node, binary string, d *Director, lf *LabFiles) (*Acceptance, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "-t", "-f", lf.Main, "-i", d.ConfigID)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := n.Do(cmd.Run)
	a := &Acceptance{Director: d.Name}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		a.Exit = ee.ExitCode()
	case err != nil:
		return nil, fmt.Errorf("run %s -t in %s: %w", binary, d.Node, err)
	}
	a.Messages = mapMessages(stderr.String(), d, lf)
	return a, nil
}

// located is keepalived's prefix of a message it can place:
// "(Line N) msg" or "(PATH: Line N) msg".
var located = regexp.MustCompile(`^\((?:(.+): )?Line (\d+)\) (.*)$`)

// mapMessages reads keepalived -t's output: each message once (it parses
// a file in four processes), named by the operator's file and line, or,
// for the messages keepalived prints without one, the lines the message
// is about.
func mapMessages(out string, d *Director, lf *LabFiles) []Message {
	seen := map[string]bool{}
	var msgs []Message
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		var m Message
		if g := located.FindStringSubmatch(line); g != nil {
			n, _ := strconv.Atoi(g[2])
			file := d.Path
			if g[1] != "" {
				file = operatorFile(g[1], d, lf)
			}
			m = Message{Text: g[3], Where: []Pos{{File: file, Line: n}}}
		} else {
			m = Message{Text: line, Where: about(line, d.Conf)}
		}
		key := m.Text + fmt.Sprint(m.Where)
		if seen[key] || seen[m.Text] && len(m.Where) > 0 && m.Where[0].File == d.Path {
			continue
		}
		seen[key], seen[m.Text] = true, true
		msgs = append(msgs, m)
	}
	return msgs
}

// operatorFile turns a path of the copy back into the operator's.
func operatorFile(p string, d *Director, lf *LabFiles) string {
	for _, sub := range []string{"main", "root"} {
		base := filepath.Join(lf.Dir, sub) + string(filepath.Separator)
		if strings.HasPrefix(p, base) {
			rel := strings.TrimPrefix(p, base)
			if sub == "root" {
				return "/" + rel
			}
			return filepath.Join(filepath.Dir(d.Path), rel)
		}
	}
	return p
}

// about finds the lines a message without a position is about: the
// instances, interfaces or virtual servers it names.
func about(msg string, f *conf.File) []Pos {
	var out []Pos
	add := func(p conf.Pos) {
		if pp := posOf(p); !slices.Contains(out, pp) && p.Line > 0 {
			out = append(out, pp)
		}
	}
	words := strings.FieldsFunc(msg, func(r rune) bool { return strings.ContainsRune(" ,()'\"", r) })
	for _, in := range f.Instances {
		if slices.Contains(words, in.Name) {
			add(in.Pos)
		}
		if in.Interface.Set && strings.Contains(msg, "interface") && slices.Contains(words, in.Interface.Value) {
			add(in.Interface.Pos)
		}
	}
	for _, vs := range f.VirtualServers {
		if vs.Addr.IsValid() && strings.Contains(msg, "["+vs.Addr.Addr().String()+"]") && strings.Contains(msg, ":"+strconv.Itoa(int(vs.Addr.Port()))) {
			add(vs.Pos)
		}
		if vs.FWMark != nil && strings.Contains(msg, fmt.Sprintf("FWM %d", *vs.FWMark)) {
			add(vs.Pos)
		}
	}
	if strings.Contains(msg, "Non-existent interface") {
		for _, in := range f.Instances {
			add(in.Interface.Pos)
		}
	}
	return out
}
