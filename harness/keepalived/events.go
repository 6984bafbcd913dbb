//go:build linux

package keepalived

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lvslab/lvslab/topology"
)

// Event is one line keepalived wrote to a notify FIFO, with the time
// lvslab read it: a VRRP instance's or group's new state (Kind INSTANCE
// or GROUP, State MASTER, BACKUP, FAULT, STOP…) or a real server's or
// virtual service's health (Kind RS or VS, State UP or DOWN).
type Event struct {
	At       time.Time `json:"at"`
	Director string    `json:"director"`
	Kind     string    `json:"kind"`
	// Name is the instance or group, "ip:port" of a real server, or
	// the virtual service.
	Name     string `json:"name"`
	State    string `json:"state"`
	Priority int    `json:"priority,omitempty"`
}

// EventsFile is where a pair's events go, one JSON object a line, in the
// lab's state directory: what lvslab status --ha shows.
const EventsFile = "keepalived-events.jsonl"

// parseEvent reads one FIFO line: INSTANCE "VI_front" MASTER 150,
// GROUP "VG_lvs" BACKUP 0, RS [192.0.2.11]:tcp:80 [203.0.113.10]:tcp:80 DOWN,
// VS [203.0.113.10]:tcp:80 UP.
func parseEvent(line string) (Event, bool) {
	f := strings.Fields(line)
	if len(f) < 3 {
		return Event{}, false
	}
	e := Event{Kind: f[0]}
	switch f[0] {
	case "INSTANCE", "GROUP":
		if len(f) != 4 {
			return e, false
		}
		e.Name, e.State = strings.Trim(f[1], `"`), f[2]
		e.Priority, _ = strconv.Atoi(f[3])
	case "RS":
		if len(f) != 4 {
			return e, false
		}
		e.Name, e.State = keepalivedAddr(f[1]), f[3]
	case "VS":
		e.Name, e.State = keepalivedAddr(f[1]), f[2]
	default:
		return e, false
	}
	return e, true
}

// keepalivedAddr turns "[192.0.2.11]:tcp:80" into "192.0.2.11:80".
func keepalivedAddr(s string) string {
	host, rest, ok := strings.Cut(strings.TrimPrefix(s, "["), "]")
	if !ok {
		return s
	}
	parts := strings.Split(rest, ":")
	return net.JoinHostPort(host, parts[len(parts)-1])
}

// isFrontState says whether the event is a state of the front instance
// (keepalived also notifies events such as MASTER_RX_LOWER_PRI).
func (e Event) isFrontState() bool {
	return e.Kind == "INSTANCE" && e.Name == InstanceFront && slices.Contains([]string{"MASTER", "BACKUP", "FAULT", "STOP"}, e.State)
}

// openFifos makes the director's notify FIFOs and reads them into the
// pair's events until Close.
func (d *Director) openFifos() error {
	fifos, err := ReadFifos(d.Name(), d.pair.EventLog, d.files.VRRPFifo, d.files.LVSFifo)
	d.fifos = append(d.fifos, fifos...)
	return err
}

// ReadFifos makes notify FIFOs (keepalived opens existing ones without
// removing them when it stops) and reads each into log, as events of
// director, until the returned files are closed.
func ReadFifos(director string, log *EventLog, paths ...string) ([]*os.File, error) {
	var out []*os.File
	for _, path := range paths {
		if err := unix.Mkfifo(path, 0o600); err != nil && !errors.Is(err, unix.EEXIST) {
			return out, fmt.Errorf("create notify FIFO %s: %w", path, err)
		}
		// Read-write, so that the FIFO never reads end-of-file while
		// keepalived restarts.
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return out, fmt.Errorf("open notify FIFO %s: %w", path, err)
		}
		out = append(out, f)
		go func() {
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				if e, ok := parseEvent(sc.Text()); ok {
					e.At, e.Director = time.Now(), director
					log.Record(e)
				}
			}
		}()
	}
	return out, nil
}

// EventLog keeps keepalived's events in the order read, and lets a
// caller wait for one.
type EventLog struct {
	mu      sync.Mutex
	events  []Event
	changed chan struct{} // closed and replaced on every event
	file    *os.File
}

// NewEventLog makes an event log that also appends each event to the
// file at path, one JSON object a line ("" for none).
func NewEventLog(path string) (*EventLog, error) {
	l := &EventLog{changed: make(chan struct{})}
	if path != "" {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("open the events file: %w", err)
		}
		l.file = f
	}
	return l, nil
}

// Record adds an event.
func (l *EventLog) Record(e Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
	if l.file != nil {
		line, _ := json.Marshal(e)
		l.file.Write(append(line, '\n'))
	}
	close(l.changed)
	l.changed = make(chan struct{})
}

// Events returns every event so far, in the order read.
func (l *EventLog) Events() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events)
}

// WaitEvent waits for the first event at or after since that match
// accepts.
func (l *EventLog) WaitEvent(ctx context.Context, since time.Time, match func(Event) bool) (Event, error) {
	for {
		l.mu.Lock()
		for _, e := range l.events {
			if !e.At.Before(since) && match(e) {
				l.mu.Unlock()
				return e, nil
			}
		}
		changed := l.changed
		l.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return Event{}, fmt.Errorf("waiting for a keepalived event: %w", ctx.Err())
		}
	}
}

// Close stops writing the events file.
func (l *EventLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.file == nil {
		return nil
	}
	err := l.file.Close()
	l.file = nil
	return err
}

// WaitState waits until keepalived reports the director's front
// instance in state (MASTER, BACKUP, FAULT…) at or after since.
func (d *Director) WaitState(ctx context.Context, state string, since time.Time) (Event, error) {
	return d.pair.WaitEvent(ctx, since, func(e Event) bool {
		return e.Director == d.Name() && e.Kind == "INSTANCE" && e.Name == InstanceFront && e.State == state
	})
}

// readEvents reads a lab's events file (none yet: no events).
func readEvents(lab string) ([]Event, error) {
	f, err := os.Open(topology.StateFile(lab, EventsFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the keepalived events of lab %s: %w", lab, err)
	}
	defer f.Close()
	var out []Event
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e Event
		if json.Unmarshal(sc.Bytes(), &e) == nil {
			out = append(out, e)
		}
	}
	return out, sc.Err()
}
