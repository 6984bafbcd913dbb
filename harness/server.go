//go:build linux

package harness

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lvslab/lvslab/topology"
)

// Response headers every real server sets: the load generator counts
// requests per server by HeaderServer.
const (
	HeaderServer = topology.ServerHeader
	HeaderClient = "X-Client-Addr"
	// HeaderReceived is the size of the request body the server read.
	HeaderReceived = "X-Body-Bytes"
)

// ServerConfig shapes what every real server answers.
type ServerConfig struct {
	// BodySize is the response body in bytes (a request may ask for
	// another size with ?size=N).
	BodySize int `json:"body_size"`
	// ServiceTime is how long each request takes, to emulate a loaded server.
	ServiceTime time.Duration `json:"service_time"`
}

// String says what the real servers answer, as lvslab up shows it.
func (c ServerConfig) String() string {
	s := fmt.Sprintf("%d-byte bodies", c.BodySize)
	if c.ServiceTime > 0 {
		s += ", " + c.ServiceTime.String() + " service time"
	}
	return s
}

// DefaultServerConfig is a small static page, as WebBench fetched.
var DefaultServerConfig = ServerConfig{BodySize: 128}

// MaxBody bounds a response body (BodySize, ?size=) and what a server
// reads of a request body, so that no request makes a server allocate
// without limit.
const MaxBody = 64 << 20

// MaxServiceTime bounds ServiceTime.
const MaxServiceTime = time.Minute

// Validate names what is out of range.
func (c ServerConfig) Validate() error {
	var errs []error
	if c.BodySize < 0 || c.BodySize > MaxBody {
		errs = append(errs, fmt.Errorf("body size %d: use 0 to %d bytes", c.BodySize, MaxBody))
	}
	if c.ServiceTime < 0 || c.ServiceTime > MaxServiceTime {
		errs = append(errs, fmt.Errorf("service time %s: use 0 to %s", c.ServiceTime, MaxServiceTime))
	}
	return errors.Join(errs...)
}

// Counters are what one real server has seen since it was created.
type Counters struct {
	Accepts  uint64 `json:"accepts"`
	Requests uint64 `json:"requests"`
	UDP      uint64 `json:"udp_datagrams"`
	Up       bool   `json:"up"`
}

// RealServer is the HTTP server and UDP echo responder of one real-server
// node, listening on every address of the node at the VIP's port (so it
// also answers on a VIP held on lo in DR and TUN mode).
type RealServer struct {
	Node *topology.Node
	port uint16
	cfg  ServerConfig
	body []byte

	accepts, requests, udp atomic.Uint64
	// faultStatus and faultDelay make a sick server (Degrade).
	faultStatus atomic.Int32
	faultDelay  atomic.Int64

	mu      sync.Mutex
	http    *http.Server
	packets []echoConn
	done    sync.WaitGroup
}

func newRealServer(n *topology.Node, port uint16, cfg ServerConfig) *RealServer {
	return &RealServer{Node: n, port: port, cfg: cfg, body: bytes.Repeat([]byte("x"), cfg.BodySize)}
}

// Name is the real server's node name (rs1, rs2, …).
func (s *RealServer) Name() string { return s.Node.Name }

// Start opens the listeners inside the node and serves them. Starting a
// running server is a no-op.
func (s *RealServer) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.http != nil {
		return nil
	}
	addr := net.JoinHostPort("", strconv.Itoa(int(s.port)))
	l, err := s.Node.Listen("tcp", addr)
	if err != nil {
		return err
	}
	echo, err := s.listenEcho()
	if err != nil {
		l.Close()
		return err
	}
	srv := &http.Server{
		Handler:           http.HandlerFunc(s.serveHTTP),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          nil,
	}
	s.http, s.packets = srv, echo
	s.done.Add(1 + len(echo))
	go func() {
		defer s.done.Done()
		srv.Serve(&countingListener{Listener: l, n: &s.accepts})
	}()
	for _, pc := range echo {
		go func() {
			defer s.done.Done()
			s.echo(pc)
		}()
	}
	return nil
}

// Stop closes the listeners and every open connection: clients see
// refusals (TCP) or silence (UDP) until Start.
func (s *RealServer) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.http == nil {
		return nil
	}
	err := s.http.Close()
	for _, pc := range s.packets {
		err = errors.Join(err, pc.Close())
	}
	s.done.Wait()
	s.http, s.packets = nil, nil
	if err != nil {
		return fmt.Errorf("stop real server %s: %w", s.Name(), err)
	}
	return nil
}

// Degrade makes a server that still accepts connections sick: every
// request waits delay more and is answered with status (0 and 0: healthy
// again).
func (s *RealServer) Degrade(status int, delay time.Duration) {
	s.faultStatus.Store(int32(status))
	s.faultDelay.Store(int64(delay))
}

// Counters returns the server's counters.
func (s *RealServer) Counters() Counters {
	s.mu.Lock()
	up := s.http != nil
	s.mu.Unlock()
	return Counters{Accepts: s.accepts.Load(), Requests: s.requests.Load(), UDP: s.udp.Load(), Up: up}
}

func (s *RealServer) serveHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	body := s.body
	if v := r.URL.Query().Get("size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > MaxBody {
			http.Error(w, fmt.Sprintf("size must be 0-%d", MaxBody), http.StatusBadRequest)
			return
		}
		body = bytes.Repeat([]byte("x"), n)
	}
	// A request body (an upload) is read whole and its size reported, so
	// that large requests can be sent through the director (TUN's MTU).
	received, err := io.Copy(io.Discard, io.LimitReader(r.Body, MaxBody))
	if err != nil {
		return // the client went away mid-body
	}
	if s.cfg.ServiceTime > 0 {
		time.Sleep(s.cfg.ServiceTime)
	}
	if d := s.faultDelay.Load(); d > 0 {
		time.Sleep(time.Duration(d))
	}
	h := w.Header()
	h.Set(HeaderServer, s.Name())
	if code := int(s.faultStatus.Load()); code != 0 {
		http.Error(w, http.StatusText(code), code)
		return
	}
	h.Set(HeaderReceived, strconv.FormatInt(received, 10))
	h.Set(HeaderClient, r.RemoteAddr)
	h.Set("Content-Type", "text/plain")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body)
}

// echoConn is a UDP socket that learns each datagram's destination
// address and answers from it: in DR and TUN mode a datagram arrives for
// the VIP, and the client only accepts a reply from the VIP.
type echoConn interface {
	Close() error
	read(buf []byte) (n int, dst net.IP, from net.Addr, err error)
	reply(b []byte, src net.IP, to net.Addr) error
}

type echo4 struct{ *ipv4.PacketConn }

func (c echo4) read(b []byte) (int, net.IP, net.Addr, error) {
	n, cm, from, err := c.ReadFrom(b)
	if cm == nil {
		return n, nil, from, err
	}
	return n, cm.Dst, from, err
}

func (c echo4) reply(b []byte, src net.IP, to net.Addr) error {
	_, err := c.WriteTo(b, &ipv4.ControlMessage{Src: src}, to)
	return err
}

type echo6 struct{ *ipv6.PacketConn }

func (c echo6) read(b []byte) (int, net.IP, net.Addr, error) {
	n, cm, from, err := c.ReadFrom(b)
	if cm == nil {
		return n, nil, from, err
	}
	return n, cm.Dst, from, err
}

func (c echo6) reply(b []byte, src net.IP, to net.Addr) error {
	_, err := c.WriteTo(b, &ipv6.ControlMessage{Src: src}, to)
	return err
}

// listenEcho opens the UDP echo sockets, one per family, inside the node.
func (s *RealServer) listenEcho() ([]echoConn, error) {
	port := strconv.Itoa(int(s.port))
	pc4, err := s.Node.ListenPacket("udp4", "0.0.0.0:"+port)
	if err != nil {
		return nil, err
	}
	c4 := ipv4.NewPacketConn(pc4)
	if err := c4.SetControlMessage(ipv4.FlagDst, true); err != nil {
		pc4.Close()
		return nil, fmt.Errorf("UDP echo in %s: %w", s.Name(), err)
	}
	pc6, err := s.Node.ListenPacket("udp6", "[::]:"+port)
	if err != nil {
		pc4.Close()
		return nil, err
	}
	c6 := ipv6.NewPacketConn(pc6)
	if err := c6.SetControlMessage(ipv6.FlagDst, true); err != nil {
		pc4.Close()
		pc6.Close()
		return nil, fmt.Errorf("UDP echo in %s: %w", s.Name(), err)
	}
	return []echoConn{echo4{c4}, echo6{c6}}, nil
}

// echo answers each datagram with "<server> <client address>\n" followed
// by the datagram itself, so a UDP client learns who answered and what
// source address the server saw.
func (s *RealServer) echo(c echoConn) {
	buf := make([]byte, 65536)
	for {
		n, dst, from, err := c.read(buf)
		if err != nil {
			return
		}
		s.udp.Add(1)
		reply := append([]byte(s.Name()+" "+from.String()+"\n"), buf[:n]...)
		c.reply(reply, dst, from)
	}
}

// ParseEcho splits a UDP echo reply into server, client address and payload.
func ParseEcho(reply []byte) (server, client string, payload []byte, err error) {
	head, payload, ok := bytes.Cut(reply, []byte("\n"))
	if !ok {
		return "", "", nil, errors.New("echo reply has no header line")
	}
	server, client, ok = strings.Cut(string(head), " ")
	if !ok {
		return "", "", nil, fmt.Errorf("echo header %q is not \"<server> <client>\"", head)
	}
	return server, client, payload, nil
}

type countingListener struct {
	net.Listener
	n *atomic.Uint64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// ServerFlags are the real servers' flags of lvslab up and its
// supervisor: Register declares them, Config checks them.
type ServerFlags struct {
	bodySize    int
	serviceTime time.Duration
}

// Register declares the flags on fs.
func (s *ServerFlags) Register(fs *flag.FlagSet) {
	fs.IntVar(&s.bodySize, "body-size", DefaultServerConfig.BodySize, "response body size in `bytes`")
	fs.DurationVar(&s.serviceTime, "service-time", 0, "time each request takes on a real server (emulates load)")
}

// Config returns the real servers' configuration the flags say, checked.
func (s *ServerFlags) Config() (ServerConfig, error) {
	c := ServerConfig{BodySize: s.bodySize, ServiceTime: s.serviceTime}
	return c, c.Validate()
}
