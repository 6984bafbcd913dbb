//go:build linux

package lab_test

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/netip"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/lvslab/lvslab/harness"
	"github.com/lvslab/lvslab/suites/internal/labtest"
	"github.com/lvslab/lvslab/topology"
)

// An operator's application on a node that holds several real-server
// addresses (a rules table with more addresses than a lab has nodes).
var _ = Describe("an App on a node of several addresses", Ordered, Label("lab"), func() {
	var client *topology.Node
	addrs := []netip.Addr{netip.MustParseAddr("192.0.2.11"), netip.MustParseAddr("192.0.2.12")}

	BeforeAll(func() {
		seg := topology.SegmentSpec{Name: "net", IPv4: netip.MustParsePrefix("192.0.2.0/24")}
		spec := &topology.Spec{Name: name("app"), Mode: topology.ModeCustom, Segments: []topology.SegmentSpec{seg},
			Nodes: []topology.NodeSpec{
				{Name: "client", Role: topology.RoleClient, Links: []topology.LinkSpec{{Segment: "net", IPv4: []netip.Addr{netip.MustParseAddr("192.0.2.100")}}}},
				{Name: "rs1", Role: topology.RoleRealServer, Links: []topology.LinkSpec{{Segment: "net", IPv4: addrs}}},
			}}
		planned, err := topology.Plan(spec)
		Expect(err).NotTo(HaveOccurred())
		labtest.ExpectGone(planned.Name)
		lab, err := topology.Build(context.Background(), planned)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { Expect(lab.Close()).To(Succeed()) })
		app := harness.NewApp(lab.Node("rs1"), "", nil)
		Expect(app.Open(harness.AppPort{Protocol: "udp", Port: 5353})).To(Succeed())
		DeferCleanup(func() { Expect(app.Stop()).To(Succeed()) })
		client = lab.Client()
	})

	It("answers each datagram from the address it came to, naming that address", func() {
		for _, a := range addrs {
			// A connected socket takes only replies from the address it sent to.
			c, err := client.Dial(context.Background(), "udp", netip.Addr{}, netip.AddrPortFrom(a, 5353))
			Expect(err).NotTo(HaveOccurred())
			defer c.Close()
			c.SetDeadline(time.Now().Add(2 * time.Second))
			_, err = c.Write([]byte("ping"))
			Expect(err).NotTo(HaveOccurred())
			buf := make([]byte, 100)
			n, err := c.Read(buf)
			Expect(err).NotTo(HaveOccurred(), "no answer from %s", a)
			name, payload, _ := strings.Cut(string(buf[:n]), " ")
			Expect(name).To(Equal(a.String()))
			Expect(payload).To(Equal("ping"))
		}
	})
})

// HTTPS as keepalived's SSL_GET asks for it (HTTP/1.0, no certificate
// check), over both families.
var _ = Describe("an App serving TLS", Ordered, Label("lab"), func() {
	var client *topology.Node
	rs4, rs6 := netip.MustParseAddr("192.0.2.21"), netip.MustParseAddr("2001:db8:1::21")

	BeforeAll(func() {
		seg := topology.SegmentSpec{Name: "net", IPv4: netip.MustParsePrefix("192.0.2.0/24"), IPv6: netip.MustParsePrefix("2001:db8:1::/64")}
		spec := &topology.Spec{Name: name("tls"), Mode: topology.ModeCustom, Segments: []topology.SegmentSpec{seg},
			Nodes: []topology.NodeSpec{
				{Name: "client", Role: topology.RoleClient, Links: []topology.LinkSpec{{Segment: "net",
					IPv4: []netip.Addr{netip.MustParseAddr("192.0.2.100")}, IPv6: []netip.Addr{netip.MustParseAddr("2001:db8:1::100")}}}},
				{Name: "rs1", Role: topology.RoleRealServer, Links: []topology.LinkSpec{{Segment: "net",
					IPv4: []netip.Addr{rs4}, IPv6: []netip.Addr{rs6}}}},
			}}
		planned, err := topology.Plan(spec)
		Expect(err).NotTo(HaveOccurred())
		labtest.ExpectGone(planned.Name)
		lab, err := topology.Build(context.Background(), planned)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { Expect(lab.Close()).To(Succeed()) })
		app := harness.NewApp(lab.Node("rs1"), "", nil)
		Expect(app.Open(harness.AppPort{Protocol: "tcp", Port: 443, TLS: true})).To(Succeed())
		DeferCleanup(func() { Expect(app.Stop()).To(Succeed()) })
		client = lab.Client()
	})

	for _, a := range []netip.Addr{rs4, rs6} {
		It("answers GET over TLS on "+a.String(), func(ctx SpecContext) {
			var c net.Conn
			Eventually(func() (err error) {
				c, err = client.Dial(ctx, "tcp", netip.Addr{}, netip.AddrPortFrom(a, 443))
				return err
			}).WithTimeout(5 * time.Second).Should(Succeed())
			tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true})
			defer tc.Close()
			tc.SetDeadline(time.Now().Add(5 * time.Second))
			_, err := tc.Write([]byte("GET /status HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: " + netip.AddrPortFrom(a, 443).String() + "\r\n\r\n"))
			Expect(err).NotTo(HaveOccurred())
			reply, err := io.ReadAll(tc)
			Expect(err).NotTo(HaveOccurred())
			Expect(string(reply)).To(HavePrefix("HTTP/1.0 200"))
		}, SpecTimeout(20*time.Second))
	}
})
