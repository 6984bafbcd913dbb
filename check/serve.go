//go:build linux

package check

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// A serve file says what the operator's application answers on each real
// server: a health path's status and body, or that a port refuses. It is
// what the lab cannot take from keepalived.conf; without it the lab's
// servers answer 200 to every GET and every health check rests on that
// assumption.
//
//	- server: 192.0.2.11:80      # address:port, ":80" (every address), "192.0.2.11" (every port) or "*"
//	  refuses: true              # nothing listens: connections are refused
//	- server: ":80"
//	  paths:
//	    /healthz: {status: 200, body: "ok"}
//	    /: {status: 200}
//	  other: 404                 # any other path (404 when left out)
//	  tls: false                 # TLS with a throw-away certificate, for SSL_GET
//
// The first entry that matches a real server applies.

// Limits of a serve file: it describes a handful of ports, not content.
const (
	maxServeFile    = 1 << 20
	maxServeEntries = 10000
	maxServeBody    = 1 << 20
)

// Serve is a read serve file.
type Serve struct {
	Path    string
	Entries []ServeEntry
}

// ServeEntry is what one real server (or every one that matches) answers.
type ServeEntry struct {
	Server  string            `yaml:"server"`
	Refuses bool              `yaml:"refuses"`
	TLS     bool              `yaml:"tls"`
	Paths   map[string]Answer `yaml:"paths"`
	Other   int               `yaml:"other"`

	addr netip.Addr // invalid: every address
	port uint16     // 0: every port
	pos  Pos
}

// Answer is the reply to one path.
type Answer struct {
	Status int    `yaml:"status"`
	Body   string `yaml:"body"`
}

// ReadServe reads and checks a serve file, naming each mistake by line.
func ReadServe(path string) (*Serve, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("serve file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxServeFile+1))
	if err != nil {
		return nil, fmt.Errorf("serve file %s: %w", path, err)
	}
	if len(data) > maxServeFile {
		return nil, fmt.Errorf("serve file %s is larger than %d bytes: it describes ports and health paths, not content", path, maxServeFile)
	}
	return parseServe(path, data)
}

func parseServe(path string, data []byte) (*Serve, error) {
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("serve file %s is empty: list what each real server answers (see lvslab check --help)", path)
		}
		return nil, fmt.Errorf("serve file %s: %w", path, err)
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("serve file %s: expected a list of entries (- server: …)", path)
	}
	items := doc.Content[0].Content
	if len(items) > maxServeEntries {
		return nil, fmt.Errorf("serve file %s has %d entries: at most %d", path, len(items), maxServeEntries)
	}
	s := &Serve{Path: path}
	var errs []error
	for _, item := range items {
		var e ServeEntry
		pos := Pos{File: path, Line: item.Line}
		dec := yaml.NewDecoder(strings.NewReader(mustYAML(item)))
		dec.KnownFields(true)
		if err := dec.Decode(&e); err != nil {
			errs = append(errs, fmt.Errorf("%s: %v", pos, err))
			continue
		}
		e.pos = pos
		if err := e.check(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", pos, err))
			continue
		}
		s.Entries = append(s.Entries, e)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

// mustYAML re-encodes one node so that it decodes on its own with
// unknown fields refused (a yaml.Node decodes leniently).
func mustYAML(n *yaml.Node) string {
	out, err := yaml.Marshal(n)
	if err != nil {
		return ""
	}
	return string(out)
}

func (e *ServeEntry) check() error {
	var err error
	if e.addr, e.port, err = parseServer(e.Server); err != nil {
		return err
	}
	if e.Refuses && (len(e.Paths) > 0 || e.TLS || e.Other != 0) {
		return fmt.Errorf("server %s refuses, so it has no paths, tls or other", e.Server)
	}
	if e.Other != 0 && (e.Other < 100 || e.Other > 599) {
		return fmt.Errorf("other %d: use an HTTP status, 100 to 599", e.Other)
	}
	for p, a := range e.Paths {
		if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, " \t\r\n") {
			return fmt.Errorf("path %q: start it with / and leave out spaces", p)
		}
		if a.Status < 100 || a.Status > 599 {
			return fmt.Errorf("path %s: status %d: use an HTTP status, 100 to 599", p, a.Status)
		}
		if len(a.Body) > maxServeBody {
			return fmt.Errorf("path %s: a body of %d bytes: at most %d", p, len(a.Body), maxServeBody)
		}
	}
	return nil
}

// parseServer reads "addr:port", "[v6]:port", ":port", "addr" or "*".
func parseServer(s string) (netip.Addr, uint16, error) {
	bad := fmt.Errorf("server %q: use address:port, :port, an address, or *", s)
	switch {
	case s == "*":
		return netip.Addr{}, 0, nil
	case s == "":
		return netip.Addr{}, 0, errors.New("an entry has no server: name one (address:port, :port, an address, or *)")
	case strings.HasPrefix(s, ":"):
		p, err := strconv.ParseUint(s[1:], 10, 16)
		if err != nil || p == 0 {
			return netip.Addr{}, 0, bad
		}
		return netip.Addr{}, uint16(p), nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a, 0, nil
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil || ap.Port() == 0 {
		return netip.Addr{}, 0, bad
	}
	return ap.Addr(), ap.Port(), nil
}

// For is the entry that says what the real server at addr:port answers.
func (s *Serve) For(addr netip.Addr, port uint16) (ServeEntry, bool) {
	if s == nil {
		return ServeEntry{}, false
	}
	for _, e := range s.Entries {
		if (!e.addr.IsValid() || e.addr == addr) && (e.port == 0 || e.port == port) {
			return e, true
		}
	}
	return ServeEntry{}, false
}

// Pos is where the entry is in the serve file.
func (e ServeEntry) Pos() Pos { return e.pos }

// Answer is the reply to a GET of path.
func (e ServeEntry) Answer(path string) Answer {
	if a, ok := e.Paths[path]; ok {
		return a
	}
	other := e.Other
	if other == 0 {
		other = 404
	}
	return Answer{Status: other}
}
