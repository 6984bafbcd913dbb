//go:build linux

package bench

import (
	"fmt"
	"io"
	"os"
	"regexp"
	"time"

	"github.com/schollz/progressbar/v3"
)

// Progress shows a long run's steps on stderr: a live bar on a terminal
// that understands escapes, and elsewhere (a CI log, a file, a VM's
// console that the host reads back: guestConsole) one line per step with
// how far it is and an estimate of what is left, so that nobody stares at
// a silent log.
type Progress struct {
	w     io.Writer
	bar   *progressbar.ProgressBar
	start time.Time
	what  string
}

// NewProgress shows the steps of lvslab's command what (bench,
// failover); live draws the bar (stderr is a terminal).
func NewProgress(what string, live bool) *Progress {
	p := &Progress{w: os.Stderr, start: time.Now(), what: what}
	if live {
		p.bar = progressbar.NewOptions(-1, progressbar.OptionSetWriter(os.Stderr), progressbar.OptionShowCount(),
			progressbar.OptionSetElapsedTime(true), progressbar.OptionSetPredictTime(true), progressbar.OptionClearOnFinish())
	}
	return p
}

// Step reports that done of total steps are finished and the next is
// desc; work is the fraction of the work done (below 0: done/total), left
// the caller's estimate of what is left (0: in proportion to the work).
func (p *Progress) Step(done, total int, work float64, left time.Duration, desc string) {
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

// Finish clears the bar.
func (p *Progress) Finish() {
	if p.bar != nil {
		p.bar.Finish()
	}
}

// progressLine is a line Step writes off a terminal, as a guest's
// benchmark writes it on the VM's console.
var progressLine = regexp.MustCompile(`^(lvslab bench: step \d+ of \d+ \((\d+)%\)), [^ ]+ elapsed, (?:estimating|about [^ ]+ left): (.*)$`)
