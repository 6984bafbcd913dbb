//go:build linux

package check

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lvslab/lvslab/harness"
	"github.com/lvslab/lvslab/topology"
)

// Probes: single requests through a service, each on a connection (or a
// UDP socket) of its own from a chosen client address, each with the
// real server that answered and when it was sent. loadgen sends load and
// totals it; balance, drain and reach at scale need to know who answered
// which request from which client, so they send these.

const (
	// probeTimeout bounds one request: the VM's emulated CPU is slow, but
	// a request unanswered this long is not going to be.
	probeTimeout = 3 * time.Second
	// probeParallel is how many requests a check has in flight where
	// order does not matter.
	probeParallel = 4
)

// reply is one request's outcome.
type reply struct {
	server string
	src    netip.Addr
	sent   time.Time
	err    error
}

// ask sends one request from src (the zero Addr lets the kernel pick).
func (e *env) ask(ctx context.Context, t target, src netip.Addr) reply {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	r := reply{src: src, sent: time.Now()}
	if t.proto == "udp" {
		r.server, r.err = askUDP(ctx, e.lab.Client(), t, src)
		return r
	}
	var c net.Conn
	c, r.server, r.err = askHTTP(ctx, e.lab.Client(), t, src, false)
	if c != nil {
		c.Close()
	}
	return r
}

// askHTTP sends a GET on a new connection and returns who answered; with
// hold the connection stays open (kept alive) for the caller to close.
func askHTTP(ctx context.Context, client *topology.Node, t target, src netip.Addr, hold bool) (net.Conn, string, error) {
	raw, err := client.Dial(ctx, "tcp", src, t.addr)
	if err != nil {
		return nil, "", err
	}
	c := raw
	if t.tls {
		// The lab's application serves a throw-away certificate, as an
		// SSL_GET checker (which does not verify it either) expects.
		c = tls.Client(raw, &tls.Config{InsecureSkipVerify: true})
	}
	if d, ok := ctx.Deadline(); ok {
		c.SetDeadline(d)
	}
	conn := "close"
	if hold {
		conn = "keep-alive"
	}
	if _, err := fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\nUser-Agent: lvslab-check\r\nConnection: %s\r\n\r\n", t.addr, conn); err != nil {
		c.Close()
		return nil, "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		c.Close()
		return nil, "", err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	server := resp.Header.Get(topology.ServerHeader)
	if server == "" {
		c.Close()
		return nil, "", fmt.Errorf("answered %q without naming its server (%s)", resp.Status, topology.ServerHeader)
	}
	if !hold {
		c.Close()
		return nil, server, nil
	}
	c.SetDeadline(time.Time{})
	return c, server, nil
}

var probeSeq atomic.Uint64

// askUDP sends one datagram from a new socket and reads the echo, which
// the application prefixes with its name.
func askUDP(ctx context.Context, client *topology.Node, t target, src netip.Addr) (string, error) {
	c, err := client.Dial(ctx, "udp", src, t.addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if d, ok := ctx.Deadline(); ok {
		c.SetDeadline(d)
	}
	payload := fmt.Sprintf("lvslab-check %d", probeSeq.Add(1))
	if _, err := c.Write([]byte(payload)); err != nil {
		return "", err
	}
	buf := make([]byte, 2048)
	n, err := c.Read(buf)
	if err != nil {
		return "", err
	}
	name, echoed, ok := strings.Cut(string(buf[:n]), " ")
	if !ok || echoed != payload || name == "" {
		return "", fmt.Errorf("the echo %q is not \"NAME %s\"", buf[:n], payload)
	}
	return name, nil
}

// askAll sends n requests, at most par at a time, request i from
// source(i), and returns the replies in request order.
func (e *env) askAll(ctx context.Context, t target, n, par int, source func(i int) netip.Addr) []reply {
	out := make([]reply, n)
	next := atomic.Int64{}
	var wg sync.WaitGroup
	for range min(par, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n && ctx.Err() == nil; i = int(next.Add(1) - 1) {
				out[i] = e.ask(ctx, t, source(i))
			}
		}()
	}
	wg.Wait()
	for i := range out {
		if out[i].sent.IsZero() {
			out[i].err = ctx.Err()
		}
	}
	return out
}

// paced sends a request every 1/rate for d (an open loop: the schedule
// does not wait for answers), at most inflight at once, request i from
// source(i), and returns every reply once all are in.
func (e *env) paced(ctx context.Context, t target, rate float64, d time.Duration, inflight int, source func(i int) netip.Addr) []reply {
	n := int(rate * d.Seconds())
	out := make([]reply, n)
	slots := make(chan struct{}, inflight)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		due := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
		select {
		case <-time.After(time.Until(due)):
		case <-ctx.Done():
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			out[i] = reply{err: ctx.Err()}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			out[i] = e.ask(ctx, t, source(i))
		}()
	}
	wg.Wait()
	return out
}

// failures counts the replies that failed, with their errors (a few).
func failures(rs []reply) (int, string) {
	n := 0
	var errs []string
	for _, r := range rs {
		if r.err != nil {
			n++
			if len(errs) < 3 {
				errs = append(errs, r.err.Error())
			}
		}
	}
	return n, strings.Join(errs, "; ")
}

func tallyReplies(rs []reply) map[string]int {
	out := map[string]int{}
	for _, r := range rs {
		if r.err == nil {
			out[r.server]++
		}
	}
	return out
}

func weightsOf(rs []harness.RealState) []int {
	out := make([]int, len(rs))
	for i, r := range rs {
		out[i] = r.Weight
	}
	return out
}

func namesOf(rs []harness.RealState) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Addr.String()
	}
	return out
}

// sources are the client's addresses of a family.
func (e *env) sources(v6 bool) []netip.Addr {
	var out []netip.Addr
	for _, l := range e.lab.Client().Links {
		for _, a := range append(append([]netip.Addr{}, l.IPv4...), l.IPv6...) {
			if a.Is6() == v6 {
				out = append(out, a)
			}
		}
	}
	return out
}

// servesTLS says whether the application at a:port answers HTTPS.
func (e *env) servesTLS(a netip.Addr, port uint16) bool {
	entry, _ := e.b.Serve.For(a, port)
	return entry.TLS || e.probedByTLS(a, port)
}

// targetsOf are the addresses the client reaches a service on: its own,
// or those its firewall marks are set for.
func (e *env) targetsOf(s Service) []target {
	proto := s.Protocol
	tls := false
	for _, r := range s.Reals {
		tls = tls || e.servesTLS(r.Addr, r.Port)
	}
	if s.FWMark != 0 {
		var out []target
		for _, t := range e.marks[s.FWMark] {
			t.tls = tls && t.proto == "tcp"
			out = append(out, t)
		}
		return out
	}
	var out []target
	for _, a := range s.Addrs[:min(len(s.Addrs), reachAddrs)] {
		out = append(out, target{proto: proto, addr: netip.AddrPortFrom(a, s.Port), tls: tls && proto == "tcp"})
	}
	return out
}

// ipvsService is the IPVS service the table holds for a target of s.
func ipvsService(s Service, t target) harness.Service {
	if s.FWMark != 0 {
		return harness.Service{FWMark: uint32(s.FWMark), Addr: t.addr.Addr()}
	}
	return harness.Service{Protocol: s.Protocol, Addr: t.addr.Addr(), Port: t.addr.Port()}
}

// serviceState reads the service behind a target in the director that
// holds its address.
func (e *env) serviceState(s Service, t target) (string, harness.ServiceState, error) {
	node := e.holder(t.addr.Addr())
	if node == "" {
		return "", harness.ServiceState{}, fmt.Errorf("no director holds %s", t.addr.Addr())
	}
	dir := e.ipvs[node]
	if dir == nil {
		return "", harness.ServiceState{}, fmt.Errorf("no director %s", node)
	}
	st, err := dir.State(ipvsService(s, t))
	if err != nil {
		return "", harness.ServiceState{}, err
	}
	return node, st, nil
}

// live are the real servers of weight above 0.
func live(st harness.ServiceState) []harness.RealState {
	var out []harness.RealState
	for _, r := range st.Reals {
		if r.Weight > 0 {
			out = append(out, r)
		}
	}
	return out
}
