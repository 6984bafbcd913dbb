//go:build linux

package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress shows long work on stderr: a live bar on a terminal that
// understands escapes, and elsewhere (a CI log, a file) one line per step
// with how far it is and an estimate of what is left, so that nobody stares
// at a silent log.
type progress struct {
	w     io.Writer
	bar   *progressbar.ProgressBar
	start time.Time
	what  string
}

func newProgress(what string) *progress {
	p := &progress{w: os.Stderr, start: time.Now(), what: what}
	if onTerminal() {
		p.bar = progressbar.NewOptions(-1, progressbar.OptionSetWriter(os.Stderr), progressbar.OptionShowCount(),
			progressbar.OptionSetElapsedTime(true), progressbar.OptionSetPredictTime(true), progressbar.OptionClearOnFinish())
	}
	return p
}

// step reports that done of total steps are finished and the next is
// desc; work is the fraction of the work done (below 0: done/total), left
// the caller's estimate of what is left (0: in proportion to the work).
func (p *progress) step(done, total int, work float64, left time.Duration, desc string) {
	if p.bar != nil {
		p.bar.ChangeMax(total)
		p.bar.Describe(desc)
		p.bar.Set(done)
		return
	}
	elapsed := time.Since(p.start)
	if work < 0 {
		work = float64(done) / float64(max(total, 1))
	}
	if left == 0 && work > 0 {
		left = time.Duration(float64(elapsed) / work * (1 - work))
	}
	estimate := "estimating"
	if left > 0 {
		estimate = "about " + left.Round(time.Second).String() + " left"
	}
	fmt.Fprintf(p.w, "lvslab %s: step %d of %d (%.0f%%), %s elapsed, %s: %s\n",
		p.what, done+1, total, 100*work, elapsed.Round(time.Second), estimate, desc)
}

func (p *progress) finish() {
	if p.bar != nil {
		p.bar.Finish()
	}
}

// onTerminal says whether stderr is a terminal that understands escapes (a
// VM's serial console is a terminal even when the host's output goes to a
// CI log; lvslab vm passes TERM on only when the host's is one).
func onTerminal() bool {
	t := os.Getenv("TERM")
	return term.IsTerminal(int(os.Stderr.Fd())) && t != "" && t != "dumb"
}
