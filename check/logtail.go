//go:build linux

package check

import (
	"bufio"
	"context"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// Some of keepalived's doings reach no notify FIFO, only its log: a
// change of effective priority ("(VI_1) Changing effective priority from
// 150 to 90"), a priority-0 advert received. Its console log stamps lines
// to the second, so the lab reads the logs as they grow and stamps each
// line with the instant it read it. Written by hand: no tail library is
// in the project's module set, and a file that only grows needs a read
// from the last offset, 20 ms apart (keepalived writes the console log
// unbuffered, lib/logger.c).

// logPoll is how often the logs are read: the timer lateness probe's
// tick, so a line's stamp is as late as any timer of the run.
const logPoll = latenessTick

// logLine is one line of a director's keepalived log.
type logLine struct {
	At   time.Time
	Node string
	Text string
}

// logTail reads keepalived's logs from their current end.
type logTail struct {
	mu      sync.Mutex
	lines   []logLine
	changed chan struct{}
	cancel  context.CancelFunc
	done    sync.WaitGroup
}

// tailLogs starts reading each node's log (by node) from its end, until
// close.
func tailLogs(ctx context.Context, logs map[string]string) *logTail {
	ctx, cancel := context.WithCancel(ctx)
	t := &logTail{changed: make(chan struct{}), cancel: cancel}
	for node, path := range logs {
		var offset int64
		if fi, err := os.Stat(path); err == nil {
			offset = fi.Size()
		}
		t.done.Add(1)
		go func() {
			defer t.done.Done()
			t.follow(ctx, node, path, offset)
		}()
	}
	return t
}

func (t *logTail) follow(ctx context.Context, node, path string, offset int64) {
	tick := time.NewTicker(logPoll)
	defer tick.Stop()
	partial := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		if _, err := f.Seek(offset, io.SeekStart); err == nil {
			r := bufio.NewReader(f)
			for {
				s, err := r.ReadString('\n')
				offset += int64(len(s))
				if err != nil {
					partial += s // the rest of the line comes later
					break
				}
				t.record(logLine{At: time.Now(), Node: node, Text: strings.TrimSpace(partial + s)})
				partial = ""
			}
		}
		f.Close()
	}
}

func (t *logTail) record(l logLine) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, l)
	close(t.changed)
	t.changed = make(chan struct{})
}

// wait waits for the first line at or after since that match accepts.
func (t *logTail) wait(ctx context.Context, since time.Time, match func(logLine) bool) (logLine, bool) {
	for {
		t.mu.Lock()
		for _, l := range t.lines {
			if !l.At.Before(since) && match(l) {
				t.mu.Unlock()
				return l, true
			}
		}
		changed := t.changed
		t.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return logLine{}, false
		}
	}
}

// close stops reading.
func (t *logTail) close() {
	t.cancel()
	t.done.Wait()
}
