package loadgen

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/lvslab/lvslab/harness"
)

var errMalformed = errors.New("malformed response")

var headerServer = []byte(harness.HeaderServer)

// readResponse reads one HTTP/1.x response and discards its body. It
// parses only what a load generator needs: the status, Content-Length,
// Connection and the real server's name. net/http.ReadResponse builds a header map
// for every response, which here would cost more CPU than the rest of a
// keep-alive request, and the load generator must not be what limits a
// measurement.
func readResponse(br *bufio.Reader) (status int, server string, closeConn bool, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, "", true, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, "", true, fmt.Errorf("%w: status line %q", errMalformed, bytes.TrimSpace(line))
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, "", true, fmt.Errorf("%w: status line %q", errMalformed, bytes.TrimSpace(line))
	}
	closeConn = line[7] == '0' // HTTP/1.0 closes unless told otherwise
	length := int64(-1)
	for {
		line, err = br.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return status, server, true, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return status, server, true, fmt.Errorf("%w: header %q", errMalformed, line)
		}
		v = bytes.TrimSpace(v)
		switch {
		case bytes.EqualFold(k, []byte("Content-Length")):
			if length, err = strconv.ParseInt(string(v), 10, 64); err != nil || length < 0 {
				return status, server, true, fmt.Errorf("%w: Content-Length %q", errMalformed, v)
			}
		case bytes.EqualFold(k, []byte("Connection")):
			closeConn = bytes.EqualFold(v, []byte("close"))
		case bytes.EqualFold(k, headerServer):
			server = string(v)
		case bytes.EqualFold(k, []byte("Transfer-Encoding")):
			return status, server, true, fmt.Errorf("%w: Transfer-Encoding %q is not supported", errMalformed, v)
		}
	}
	if length < 0 { // the body ends when the server closes
		_, err = io.Copy(io.Discard, br)
		return status, server, true, err
	}
	if n, err := br.Discard(int(length)); int64(n) < length {
		return status, server, true, fmt.Errorf("%w (%d of %d bytes): %v", errShortBody, n, length, err)
	}
	return status, server, closeConn, nil
}
