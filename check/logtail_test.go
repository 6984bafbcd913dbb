//go:build linux

package check

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestLogTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keepalived.log")
	if err := os.WriteFile(path, []byte("old: (VI_1) Changing effective priority from 100 to 40\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tail := tailLogs(context.Background(), map[string]string{"lb1": path})
	defer tail.close()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	since := time.Now()
	// A line written in two parts is one line.
	f.WriteString("new: (VI_1) Changing effective ")
	time.Sleep(3 * logPoll)
	f.WriteString("priority from 40 to 100\n")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	l, ok := tail.wait(ctx, since, func(l logLine) bool { return priorityLine.MatchString(l.Text) })
	if !ok {
		t.Fatal("the new line was not read")
	}
	if l.Node != "lb1" || l.Text != "new: (VI_1) Changing effective priority from 40 to 100" {
		t.Errorf("read %+v: the line before the tail began, or half a line", l)
	}
	if m := priorityLine.FindStringSubmatch(l.Text); m[1] != "VI_1" || m[2] != "40" || m[3] != "100" {
		t.Errorf("parsed %q", m)
	}
}
