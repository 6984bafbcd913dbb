//go:build linux

package loadgen

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"testing"
)

// FuzzResponse feeds the parser arbitrary bytes, whole and cut in two:
// it must never panic, must give the same verdict however the bytes are
// cut, must hand back every line buffer it borrowed, and must agree with
// net/http on the status and the real server of any response both accept.
//
//	go test ./loadgen -run '^$' -fuzz FuzzResponse -fuzztime 2m
func FuzzResponse(f *testing.F) {
	f.Add([]byte(realResponse), uint16(40))
	f.Add([]byte("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nbody until the end"), uint16(3))
	f.Add([]byte("HTTP/1.0 503 Busy\r\nX-Real-Server: rs2\r\nContent-Length: 2\r\n\r\nno"), uint16(0))
	f.Add([]byte("HTTP/1.1 200 OK\nx-real-server:\trs7 \nContent-Length: 1\n\nz"), uint16(20))
	f.Add([]byte("HTTP/1.1 204 No Content\r\n\r\n"), uint16(9))
	f.Fuzz(func(t *testing.T, in []byte, cut uint16) {
		whole := parseAll(t, in)
		at := 0
		if len(in) > 0 {
			at = int(cut) % len(in)
		}
		if split := parseAll(t, in[:at], in[at:]); split != whole && !errors.Is(whole.err, errTrailing) {
			t.Fatalf("cut at %d: %+v, whole: %+v", at, split, whole)
		}
		if whole.err != nil || !whole.done {
			return
		}
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(in)), nil)
		if err != nil || len(resp.TransferEncoding) > 0 {
			return
		}
		if resp.StatusCode != whole.status {
			t.Fatalf("status %d, net/http says %d", whole.status, resp.StatusCode)
		}
		if s := resp.Header.Get("X-Real-Server"); s != whole.server {
			t.Fatalf("server %q, net/http says %q", whole.server, s)
		}
	})
}

type parsed struct {
	done   bool
	err    error
	status int
	server string
	close  bool
}

// parseAll feeds the pieces in turn and then, if the response is not done,
// the end of the connection.
func parseAll(t *testing.T, pieces ...[]byte) parsed {
	var p response
	var names serverNames
	var lines lineBuffers
	p.reset()
	var out parsed
	for _, piece := range pieces {
		if len(piece) == 0 {
			continue
		}
		if out.done, out.err = p.feed(piece, &names, &lines); out.done {
			break
		}
	}
	if !out.done {
		out.err = p.eof()
		out.done = out.err == nil
		if errors.Is(out.err, io.EOF) || errors.Is(out.err, io.ErrUnexpectedEOF) {
			out.err = io.ErrUnexpectedEOF // how much arrived is not the verdict
		}
	}
	p.giveBack(&lines)
	if lines.n != 0 {
		t.Fatalf("%d line buffers not given back", lines.n)
	}
	if p.server != noServer {
		out.server = names.names[p.server]
	}
	out.status, out.close = p.status, p.close
	return out
}
