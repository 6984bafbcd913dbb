//go:build linux

package loadgen

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// The test binary doubles as a stand-alone HTTP server (run with
// stubServerEnv set), so that allocation counts and CPU time measured in
// the test process are the load generator's alone.
const stubServerEnv = "LVSLAB_LOADGEN_STUB_SERVER"

func TestMain(m *testing.M) {
	if name := os.Getenv(stubServerEnv); name != "" {
		os.Exit(serveStub(name))
	}
	os.Exit(m.Run())
}

// serveStub answers as a lab's real server does (the same headers and a
// 128-byte body) on a loopback port it prints, until its stdin closes.
func serveStub(name string) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	body := []byte(strings.Repeat("x", 128))
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Real-Server", name)
		h.Set("X-Body-Bytes", "0")
		h.Set("X-Client-Addr", r.RemoteAddr)
		h.Set("Content-Type", "text/plain")
		h.Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	})}
	go srv.Serve(l)
	fmt.Println(l.Addr())
	io.Copy(io.Discard, os.Stdin)
	return 0
}

// stubServer starts a server process and returns its address.
func stubServer(tb testing.TB, name string) Target {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), stubServerEnv+"="+name)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		tb.Fatalf("stub server: %v", err)
	}
	ap, err := netip.ParseAddrPort(strings.TrimSpace(line))
	if err != nil {
		tb.Fatalf("stub server address %q: %v", line, err)
	}
	return Target{Name: name, Addr: ap}
}
