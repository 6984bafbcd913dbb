//go:build linux

package lab_test

import (
	"context"
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
