package ipvs_test

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

// directorLab is a lab with a director serving the VIP in one mode: the
// HTTP (TCP) and UDP services on the VIP's port, every real server at
// weight 1, scheduler rr.
type directorLab struct {
	*harness.Lab
	Dir  *harness.Director
	Mode topology.Mode
	// HTTP and UDP are the IPv4 services; HTTP6 and UDP6 the IPv6 ones
	// (zero in TUN mode).
	HTTP, UDP, HTTP6, UDP6 harness.Service
}

// startDirectorLab builds one for an Ordered container's BeforeAll and
// tears it down after the container.
func startDirectorLab(name string, mode topology.Mode, cfg harness.ServerConfig, opts ...topology.Option) *directorLab {
	GinkgoHelper()
	spec := topology.Paper(append([]topology.Option{topology.WithName(prefix + name), topology.WithMode(mode)}, opts...)...)
	lab, err := harness.Start(context.Background(), spec, cfg)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(lab.Close)
	Expect(harness.Wire(lab.Lab, mode)).To(Succeed())
	dir, err := harness.OpenDirector(lab.Lab)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(dir.Close)
	svcs, err := harness.ServeVIP(dir, lab.Lab, mode, "rr")
	Expect(err).NotTo(HaveOccurred())
	Expect(harness.Verify(lab.Lab, mode)).To(Succeed())
	d := &directorLab{Lab: lab, Dir: dir, Mode: mode, HTTP: svcs[0], UDP: svcs[1]}
	if len(svcs) == 4 {
		d.HTTP6, d.UDP6 = svcs[2], svcs[3]
	}
	return d
}

// real is a real server as a destination of the lab's services.
func (d *directorLab) real(name string, weight int, v6 bool) harness.Real {
	return harness.Real{Addr: d.Node(name).Addr(v6), Port: d.Spec.VIP.Port, Weight: weight, Method: d.Mode}
}

// setWeights gives each named real server a weight on a service, and puts
// every weight back to 1 after the spec.
func (d *directorLab) setWeights(svc harness.Service, weights map[string]int) {
	GinkgoHelper()
	v6 := svc.Addr.Is6()
	for name, w := range weights {
		Expect(d.Dir.UpdateReal(svc, d.real(name, w, v6))).To(Succeed())
	}
	DeferCleanup(func() {
		for name := range weights {
			Expect(d.Dir.UpdateReal(svc, d.real(name, 1, v6))).To(Succeed())
		}
	})
}

// setScheduler switches a service's scheduler (and flags, persistence)
// for one spec.
func (d *directorLab) setScheduler(svc harness.Service) {
	GinkgoHelper()
	Expect(d.Dir.UpdateService(svc)).To(Succeed())
	orig := d.HTTP
	if svc.Protocol == "udp" {
		orig = d.UDP
	}
	DeferCleanup(func() { Expect(d.Dir.UpdateService(orig)).To(Succeed()) })
}

// ipvsSysctl sets a net.ipv4.vs.* sysctl for one spec.
func (d *directorLab) ipvsSysctl(name, value string) {
	GinkgoHelper()
	old, err := d.Director().Sysctl("net.ipv4.vs." + name)
	Expect(err).NotTo(HaveOccurred())
	Expect(d.Dir.SetSysctl(name, value)).To(Succeed())
	DeferCleanup(func() { Expect(d.Dir.SetSysctl(name, old)).To(Succeed()) })
}

func (d *directorLab) vip(v6 bool) netip.AddrPort {
	if v6 {
		return netip.AddrPortFrom(d.Spec.VIP.IPv6, d.Spec.VIP.Port)
	}
	return netip.AddrPortFrom(d.Spec.VIP.IPv4, d.Spec.VIP.Port)
}

func (d *directorLab) sources(v6 bool) []netip.Addr { return loadgen.SourcesFor(d.Spec, v6) }

// ask sends one request on a new connection from a source address and
// returns the real server that answered.
func (d *directorLab) ask(from netip.Addr) string {
	GinkgoHelper()
	resp := get(d.Client(), from, d.vip(from.Is6()))
	return resp.Header.Get(harness.HeaderServer)
}

// held is an open keep-alive connection through the VIP.
type held struct {
	net.Conn
	br     *bufio.Reader
	Server string
}

// hold opens a connection from a source address, makes one request on it
// and keeps it open (an active connection for IPVS), closed after the spec.
func (d *directorLab) hold(from netip.Addr) *held {
	GinkgoHelper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := d.Client().Dial(ctx, "tcp", from, d.vip(from.Is6()))
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(c.Close)
	h := &held{Conn: c, br: bufio.NewReader(c)}
	h.Server, err = h.request()
	Expect(err).NotTo(HaveOccurred())
	return h
}

// request sends one keep-alive request on the held connection.
func (h *held) request() (string, error) {
	h.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := fmt.Fprintf(h, "GET / HTTP/1.1\r\nHost: vip\r\n\r\n"); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(h.br, nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.Header.Get(harness.HeaderServer), err
}

// udpAsk sends one datagram on a connected UDP socket and returns who
// echoed it.
func udpAsk(c net.Conn) (string, error) {
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

// loadInBackground runs a load through the VIP while the spec changes
// things; the result arrives on the channel.
func (d *directorLab) loadInBackground(clients int, duration time.Duration) <-chan *loadgen.Result {
	targets, err := loadgen.TargetsFor(d.Spec, "vip", false)
	Expect(err).NotTo(HaveOccurred())
	out := make(chan *loadgen.Result, 1)
	go func() {
		defer GinkgoRecover()
		res, err := loadgen.Run(context.Background(), loadgen.Config{
			Targets: targets, Sources: d.sources(false), Dial: d.Client().Dial,
			Clients: clients, Duration: duration, Timeout: 2 * time.Second,
		})
		Expect(err).NotTo(HaveOccurred())
		out <- res
	}()
	return out
}

func modeName(m topology.Mode) string { return strings.ToUpper(string(m)) }

func ctxTimeout() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	DeferCleanup(cancel)
	return ctx
}

// udpConn opens a UDP socket from a source address to the VIP, closed after the spec.
func udpConn(d *directorLab, from netip.Addr) net.Conn {
	GinkgoHelper()
	c, err := d.Client().Dial(ctxTimeout(), "udp", from, d.vip(from.Is6()))
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(c.Close)
	return c
}
