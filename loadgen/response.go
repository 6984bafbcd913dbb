//go:build linux

package loadgen

import (
	"bytes"
	"errors"
	"io"

	"github.com/lvslab/lvslab/topology"
)

var (
	errMalformed   = errors.New("malformed response")
	errShortBody   = errors.New("short body")
	errBadStatus   = errors.New("bad status")
	errTrailing    = errors.New("bytes after the response")
	errHeaderLarge = errors.New("response header too large")
	errTimeout     = errors.New("request timed out")
)

// maxHeader bounds a response's status line and header fields together.
const maxHeader = 8 << 10

var headerServer = []byte(topology.ServerHeader)

// response reads one HTTP/1.x response as it arrives, read by read. It
// parses only what a load generator needs: the status, Content-Length,
// Connection and the real server's name, and counts the body's bytes
// without keeping them. net/http.ReadResponse builds a header map and a
// body reader for every response, which here would cost more CPU than the
// rest of a request, and the load generator must not be what limits a
// measurement.
type response struct {
	state  uint8
	status int
	close  bool
	server int32 // in the loop's serverNames; noServer when absent
	length int64 // Content-Length; -1 when absent
	left   int64 // body bytes still to come
	head   int   // header bytes so far
	// line holds a header line begun in an earlier read (rare: a response
	// header usually arrives whole); lent by the loop, given back when the
	// response is done.
	line []byte
}

const (
	readStatus uint8 = iota
	readFields
	readBody
	readToEOF
	readDone
)

const noServer = -1

// reset readies p for the next response (after giveBack).
func (p *response) reset() {
	*p = response{server: noServer, length: -1}
}

// lineBuffer lends and takes back the buffers of header lines split
// across reads.
type lineBuffer interface {
	lend() []byte
	take(b []byte)
}

// feed takes the next bytes read from the connection. done says the
// response is complete (then err says why it failed, if it did).
func (p *response) feed(b []byte, names *serverNames, lines lineBuffer) (done bool, err error) {
	for len(b) > 0 {
		switch p.state {
		case readStatus, readFields:
			i := bytes.IndexByte(b, '\n')
			if p.head += len(b); i >= 0 {
				p.head -= len(b) - i - 1
			}
			if p.head > maxHeader {
				return true, errHeaderLarge
			}
			if i < 0 {
				if p.line == nil {
					p.line = lines.lend()
				}
				p.line = append(p.line, b...)
				return false, nil
			}
			line := b[:i+1]
			if len(p.line) > 0 {
				p.line = append(p.line, line...)
				line = p.line
			}
			b = b[i+1:]
			err := p.parseLine(line, names)
			p.line = p.line[:0]
			if err != nil {
				return true, err
			}
		case readBody:
			n := min(int64(len(b)), p.left)
			p.left -= n
			b = b[n:]
			if p.left == 0 {
				p.state = readDone
			}
		case readToEOF:
			return false, nil
		case readDone:
			return true, errTrailing
		}
	}
	if p.state == readDone {
		return true, p.verdict()
	}
	return false, nil
}

// eof is the end of the connection: the end of a body that runs until the
// server closes, or a response cut short.
func (p *response) eof() error {
	switch p.state {
	case readToEOF:
		p.state = readDone
		return p.verdict()
	case readBody:
		return errShortBody
	case readStatus:
		if p.head == 0 {
			return io.EOF
		}
	}
	return io.ErrUnexpectedEOF
}

func (p *response) verdict() error {
	if p.status != 200 {
		return errBadStatus
	}
	return nil
}

// giveBack returns the line buffer, if the response borrowed one.
func (p *response) giveBack(lines lineBuffer) {
	if p.line != nil {
		lines.take(p.line[:0])
		p.line = nil
	}
}

func (p *response) parseLine(line []byte, names *serverNames) error {
	line = bytes.TrimSuffix(line[:len(line)-1], []byte("\r"))
	if p.state == readStatus {
		// HTTP/1.x NNN[ reason]
		if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' ||
			(len(line) > 12 && line[12] != ' ') {
			return errMalformed
		}
		status := 0
		for _, c := range line[9:12] {
			if c < '0' || c > '9' {
				return errMalformed
			}
			status = status*10 + int(c-'0')
		}
		p.status = status
		p.close = line[7] == '0' // HTTP/1.0 closes unless told otherwise
		p.state = readFields
		return nil
	}
	if len(line) == 0 {
		p.endHeader()
		return nil
	}
	k, v, ok := bytes.Cut(line, []byte(":"))
	if !ok || len(k) == 0 {
		return errMalformed
	}
	v = trimOWS(v)
	// The length first: most fields are none of the four.
	switch {
	case len(k) == len("Content-Length") && bytes.EqualFold(k, []byte("Content-Length")):
		n, ok := parseLength(v)
		if !ok || (p.length >= 0 && n != p.length) {
			return errMalformed
		}
		p.length = n
	case len(k) == len("Connection") && bytes.EqualFold(k, []byte("Connection")):
		for len(v) > 0 {
			tok, rest, _ := bytes.Cut(v, []byte(","))
			switch tok = trimOWS(tok); {
			case bytes.EqualFold(tok, []byte("close")):
				p.close = true
			case bytes.EqualFold(tok, []byte("keep-alive")):
				p.close = false
			}
			v = rest
		}
	case len(k) == len(headerServer) && bytes.EqualFold(k, headerServer):
		if p.server == noServer { // the first, as net/http's Header.Get
			p.server = names.id(v)
		}
	case len(k) == len("Transfer-Encoding") && bytes.EqualFold(k, []byte("Transfer-Encoding")):
		return errMalformed // not sent by the lab's servers, not supported
	}
	return nil
}

// endHeader decides how the body ends (RFC 9112 section 6.3).
func (p *response) endHeader() {
	switch {
	case p.status < 200 || p.status == 204 || p.status == 304:
		p.state, p.close = readDone, true // no body; an interim 1xx is not followed
	case p.length >= 0:
		p.state, p.left = readBody, p.length
		if p.left == 0 {
			p.state = readDone
		}
	default:
		p.state, p.close = readToEOF, true
	}
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// parseLength reads a Content-Length: 1 to 18 digits, nothing else.
func parseLength(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// serverNames numbers the real servers' names as responses bring them, so
// that counting a response by its server allocates nothing. It holds at
// most maxServerNames names (a misbehaving server could send a new one
// each time); later ones count under otherServers.
type serverNames struct {
	ids   map[string]int32
	names []string
}

const (
	maxServerNames = 1024
	otherServers   = "(other)"
)

func (s *serverNames) id(name []byte) int32 {
	if id, ok := s.ids[string(name)]; ok { // no allocation for the lookup
		return id
	}
	if s.ids == nil {
		s.ids = map[string]int32{}
	}
	n := string(name)
	if len(s.names) >= maxServerNames {
		n = otherServers
		if id, ok := s.ids[n]; ok {
			return id
		}
	}
	id := int32(len(s.names))
	s.ids[n] = id
	s.names = append(s.names, n)
	return id
}
