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

// openFifos makes the notify FIFOs (keepalived opens existing ones
// without removing them when it stops) and reads them until Close.
func (d *Director) openFifos() error {
	for _, path := range []string{d.files.VRRPFifo, d.files.LVSFifo} {
		if err := unix.Mkfifo(path, 0o600); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("create notify FIFO %s: %w", path, err)
		}
		// Read-write, so that the FIFO never reads end-of-file while
		// keepalived restarts.
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("open notify FIFO %s: %w", path, err)
		}
		d.fifos = append(d.fifos, f)
		go d.readFifo(f)
	}
	return nil
}

func (d *Director) readFifo(f *os.File) {
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if e, ok := parseEvent(sc.Text()); ok {
			e.At, e.Director = time.Now(), d.Name()
			d.pair.record(e)
		}
	}
}

func (p *Pair) record(e Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.events = append(p.events, e)
	if p.log != nil {
		line, _ := json.Marshal(e)
		p.log.Write(append(line, '\n'))
	}
	close(p.changed)
	p.changed = make(chan struct{})
}

// Events returns every event so far, in the order read.
func (p *Pair) Events() []Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.events)
}

// WaitEvent waits for the first event at or after since that match
// accepts.
func (p *Pair) WaitEvent(ctx context.Context, since time.Time, match func(Event) bool) (Event, error) {
	for {
		p.mu.Lock()
		for _, e := range p.events {
			if !e.At.Before(since) && match(e) {
				p.mu.Unlock()
				return e, nil
			}
		}
		changed := p.changed
		p.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return Event{}, fmt.Errorf("waiting for a keepalived event: %w", ctx.Err())
		}
	}
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
