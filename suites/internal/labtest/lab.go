//go:build linux

package labtest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/lvslab/lvslab/harness"
	"github.com/lvslab/lvslab/loadgen"
	"github.com/lvslab/lvslab/topology"
)

// Lab is a running lab for one spec or Ordered container: the paper's
// topology, its real servers and, in nat, dr and tun mode, its IPVS
// director serving the VIP (harness.Up).
type Lab struct {
	*harness.Lab
	// Dir is the director (harness.Lab.IPVS); nil in direct and routed mode.
	Dir *harness.Director
	// HTTP and UDP are the IPv4 services on the VIP; HTTP6 and UDP6 the
	// IPv6 ones (zero when the lab has no IPv6 VIP).
	HTTP, UDP, HTTP6, UDP6 harness.Service
}

// Start builds a paper lab in mode (topology options may change it), with
// the default real servers, and tears it down after the current spec or
// container. Call it from It, BeforeEach or BeforeAll.
func Start(mode topology.Mode, opts ...topology.Option) *Lab {
	GinkgoHelper()
	return StartServing(mode, harness.DefaultServerConfig, opts...)
}

// StartServing is Start with real servers configured by cfg.
func StartServing(mode topology.Mode, cfg harness.ServerConfig, opts ...topology.Option) *Lab {
	GinkgoHelper()
	spec := topology.Paper(append([]topology.Option{topology.WithName(Name(string(mode) + fmt.Sprint(serial.Add(1)))),
		topology.WithMode(mode)}, opts...)...)
	ExpectGone(spec.Name) // registered first, so it runs after the lab's own cleanups
	lab, err := harness.Up(context.Background(), spec, harness.UpOptions{Servers: cfg})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(lab.Close)
	CaptureOnFailure(lab.Topology())
	l := &Lab{Lab: lab, Dir: lab.IPVS}
	if l.Dir == nil {
		return l
	}
	l.HTTP, _ = l.Dir.Service("tcp", false)
	l.UDP, _ = l.Dir.Service("udp", false)
	l.HTTP6, _ = l.Dir.Service("tcp", true)
	l.UDP6, _ = l.Dir.Service("udp", true)
	return l
}

// Target is where the lab's load goes: the VIP when it has a director,
// every real server's own address otherwise.
func (l *Lab) Target() string {
	if l.Dir != nil {
		return "vip"
	}
	return "direct"
}

// LoadConfig is load at the lab's target over IPv4 with clients clients,
// bounded by two minutes; set Requests, Duration or KeepAlive as wanted.
func (l *Lab) LoadConfig(clients int) loadgen.Config {
	GinkgoHelper()
	cfg, err := loadgen.ForLab(l.Topology(), l.Target(), false)
	Expect(err).NotTo(HaveOccurred())
	cfg.Clients, cfg.Duration = clients, 2*time.Minute
	return cfg
}

// Load sends n requests at the lab's target from 4 clients, one new
// connection each, and expects every one to succeed.
func (l *Lab) Load(n int64) *loadgen.Result {
	GinkgoHelper()
	cfg := l.LoadConfig(4)
	cfg.Requests = n
	res, err := loadgen.Run(context.Background(), cfg)
	Expect(err).NotTo(HaveOccurred())
	Expect(res.Errors).To(BeEmpty(), "failed requests")
	Expect(res.Successes).To(Equal(n))
	return res
}

// LoadInBackground runs load at the lab's target while the spec changes
// things; the result arrives on the channel.
func (l *Lab) LoadInBackground(clients int, duration time.Duration) <-chan *loadgen.Result {
	GinkgoHelper()
	cfg := l.LoadConfig(clients)
	cfg.Duration, cfg.Timeout = duration, 2*time.Second
	out := make(chan *loadgen.Result, 1)
	go func() {
		defer GinkgoRecover()
		res, err := loadgen.Run(context.Background(), cfg)
		Expect(err).NotTo(HaveOccurred())
		out <- res
	}()
	return out
}

// Counts are what the real servers and the director's HTTP service have
// counted.
type Counts struct {
	// Requests and Accepts add up every real server's.
	Requests, Accepts uint64
	// IPVS is the HTTP service's counters (zero without a director).
	IPVS harness.Stats
}

// Since is what was counted after an earlier reading.
func (c Counts) Since(earlier Counts) Counts {
	return Counts{Requests: c.Requests - earlier.Requests, Accepts: c.Accepts - earlier.Accepts, IPVS: c.IPVS.Sub(earlier.IPVS)}
}

// Counts reads the real servers' counters and the HTTP service's settled
// counters.
func (l *Lab) Counts() Counts {
	GinkgoHelper()
	var c Counts
	if l.Dir != nil {
		c.IPVS = l.Settled(l.HTTP)
	}
	for _, s := range l.Lab.Counters() {
		c.Requests += s.Requests
		c.Accepts += s.Accepts
	}
	return c
}

// Settled reads a service's counters once they are final: IPVS folds its
// per-CPU counters into them every 2 seconds (the estimator's period), so
// two equal reads 2.5 s apart are.
func (l *Lab) Settled(svc harness.Service) harness.Stats {
	GinkgoHelper()
	var prev, cur *harness.Stats
	Eventually(func() (bool, error) {
		svcs, err := l.Dir.Services()
		if err != nil {
			return false, err
		}
		prev, cur = cur, nil
		for _, s := range svcs {
			if s.Protocol == svc.Protocol && s.Addr == svc.Addr && s.Port == svc.Port && s.FWMark == svc.FWMark {
				cur = &s.Stats
			}
		}
		return cur != nil && prev != nil && *prev == *cur, nil
	}).WithTimeout(20 * time.Second).WithPolling(2500 * time.Millisecond).Should(BeTrue())
	return *cur
}

// VIP is the VIP's address and port in one family.
func (l *Lab) VIP(v6 bool) netip.AddrPort {
	if v6 {
		return netip.AddrPortFrom(l.Spec.VIP.IPv6, l.Spec.VIP.Port)
	}
	return netip.AddrPortFrom(l.Spec.VIP.IPv4, l.Spec.VIP.Port)
}

// Sources are the client's addresses of one family.
func (l *Lab) Sources(v6 bool) []netip.Addr { return loadgen.SourcesFor(l.Spec, v6) }

// Real is a real server of the lab as a destination of the director.
func (l *Lab) Real(name string, weight int, v6 bool) harness.Real {
	return l.Dir.Real(l.Node(name), weight, v6)
}

// Ask sends one request to the VIP on a new connection from a source
// address and returns the real server that answered.
func (l *Lab) Ask(from netip.Addr) string {
	GinkgoHelper()
	return Get(l.Client(), from, l.VIP(from.Is6())).Header.Get(harness.HeaderServer)
}

// Get sends one HTTP/1.0 request from a node and a source address on a
// new connection and returns the response, whose status must be 200.
func Get(n *topology.Node, from netip.Addr, to netip.AddrPort) *http.Response {
	GinkgoHelper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := n.Dial(ctx, "tcp", from, to)
	Expect(err).NotTo(HaveOccurred())
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	_, err = fmt.Fprintf(c, "GET / HTTP/1.0\r\nHost: %s\r\n\r\n", to)
	Expect(err).NotTo(HaveOccurred())
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	Expect(err).NotTo(HaveOccurred())
	resp.Body.Close()
	Expect(resp.StatusCode).To(Equal(http.StatusOK))
	return resp
}

// Held is an open keep-alive connection through the VIP: an active
// connection for IPVS.
type Held struct {
	net.Conn
	br *bufio.Reader
	// Server is the real server that answered the first request.
	Server string
}

// Hold opens a connection from a source address, makes one request on it
// and keeps it open until the spec ends.
func (l *Lab) Hold(from netip.Addr) *Held {
	GinkgoHelper()
	return HoldVia(l.Client(), from, l.VIP(from.Is6()))
}

// HoldVia opens a connection from client's source address to an address,
// makes one request on it and keeps it open until the spec ends.
func HoldVia(client *topology.Node, from netip.Addr, to netip.AddrPort) *Held {
	GinkgoHelper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, "tcp", from, to)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(c.Close)
	h := &Held{Conn: c, br: bufio.NewReader(c)}
	h.Server, err = h.Request()
	Expect(err).NotTo(HaveOccurred())
	return h
}

// Request sends one more request on the held connection and returns who
// answered; any answer but 200 is an error.
func (h *Held) Request() (string, error) {
	server, status, err := h.Ask(64, 3*time.Second)
	if err == nil && status != http.StatusOK {
		err = fmt.Errorf("%s answered %d", server, status)
	}
	return server, err
}

// Ask sends one request for size bytes on the held connection and reads
// the whole answer, checking that a 200's body is exactly what the real
// servers send (size × "x"); it returns who answered and the status.
func (h *Held) Ask(size int, timeout time.Duration) (server string, status int, err error) {
	h.SetDeadline(time.Now().Add(timeout))
	if _, err := fmt.Fprintf(h, "GET /?size=%d HTTP/1.1\r\nHost: vip\r\n\r\n", size); err != nil {
		return "", 0, err
	}
	resp, err := http.ReadResponse(h.br, nil)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", resp.StatusCode, err
	}
	if resp.StatusCode == http.StatusOK && (len(body) != size || strings.Trim(string(body), "x") != "") {
		return "", resp.StatusCode, fmt.Errorf("body of %d bytes is not the %d x's sent", len(body), size)
	}
	return resp.Header.Get(harness.HeaderServer), resp.StatusCode, nil
}

// UDPConn opens a UDP socket from a source address to the VIP, closed
// after the spec.
func (l *Lab) UDPConn(from netip.Addr) net.Conn {
	GinkgoHelper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := l.Client().Dial(ctx, "udp", from, l.VIP(from.Is6()))
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(c.Close)
	return c
}

// UDPAsk sends one datagram on a connected UDP socket and returns the real
// server that echoed it.
func UDPAsk(c net.Conn) (string, error) {
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("ping")); err != nil {
		return "", err
	}
	buf := make([]byte, 2048)
	n, err := c.Read(buf)
	if err != nil {
		return "", err
	}
	server, _, _, err := harness.ParseEcho(buf[:n])
	return server, err
}

// SetWeights gives each named real server a weight on a service for the
// current spec; every weight goes back to 1 after it.
func (l *Lab) SetWeights(svc harness.Service, weights map[string]int) {
	GinkgoHelper()
	v6 := svc.Addr.Is6()
	for name, w := range weights {
		Expect(l.Dir.UpdateReal(svc, l.Real(name, w, v6))).To(Succeed())
	}
	DeferCleanup(func() {
		for name := range weights {
			Expect(l.Dir.UpdateReal(svc, l.Real(name, 1, v6))).To(Succeed())
		}
	})
}

// SetScheduler changes a VIP service's scheduler (flags, persistence) for
// the current spec.
func (l *Lab) SetScheduler(svc harness.Service) {
	GinkgoHelper()
	Expect(l.Dir.UpdateService(svc)).To(Succeed())
	orig := l.HTTP
	switch {
	case svc.Protocol == "udp" && svc.Addr.Is6():
		orig = l.UDP6
	case svc.Protocol == "udp":
		orig = l.UDP
	case svc.Addr.Is6():
		orig = l.HTTP6
	}
	DeferCleanup(func() { Expect(l.Dir.UpdateService(orig)).To(Succeed()) })
}

// IPVSSysctl sets a net.ipv4.vs.* sysctl of the director for the current spec.
func (l *Lab) IPVSSysctl(name, value string) {
	GinkgoHelper()
	old, err := l.Director().Sysctl("net.ipv4.vs." + name)
	Expect(err).NotTo(HaveOccurred())
	Expect(l.Dir.SetSysctl(name, value)).To(Succeed())
	DeferCleanup(func() { Expect(l.Dir.SetSysctl(name, old)).To(Succeed()) })
}

// Verify checks the lab's wiring for its mode (harness.Verify).
func (l *Lab) Verify() error { return harness.Verify(l.Topology(), l.Spec.Mode) }

// Rewire wires the lab for its mode again (harness.Wire), undoing what a
// spec broke on purpose.
func (l *Lab) Rewire() error { return harness.Wire(l.Topology(), l.Spec.Mode) }
