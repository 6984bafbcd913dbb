//go:build linux

package ipvs_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/lvslab/lvslab/harness"
	"github.com/lvslab/lvslab/suites/internal/labtest"
	"github.com/lvslab/lvslab/topology"
)

// IPVS behaviours users got burned by (as reported in the kubernetes and
// kube-router trackers cited at each spec), each pinned on the
// kernel under test. Persistence at weight 0 is pinned in
// scheduler_test.go, UDP to a deleted server in udp_test.go.
var _ = Describe("known IPVS traps", Label("gotcha"), func() {
	port := 40000 // a fresh fixed source port for each spec
	Context("on a NAT director", Ordered, Label("nat"), func() {
		var d *labtest.Lab
		BeforeAll(func() {
			d = labtest.Start(topology.ModeNAT)
		})
		// kubernetes/kubernetes#70747, #81775, #93297: with
		// conn_reuse_mode=1 and conntrack=1, a SYN that reuses the port of
		// a connection IPVS still tracks was dropped, and the client waited
		// a second for its retransmission. Fixed in 5.9 ("ipvs: allow
		// connection reuse for unconfirmed conntrack"): no stall from 5.9
		// on, a stall of about 1 s before.
		It("stalls a client that reuses a source port only before 5.9 (conn_reuse_mode=1, conntrack=1)", func() {
			d.IPVSSysctl("conntrack", "1")
			d.IPVSSysctl("conn_reuse_mode", "1")
			port++
			_, first := fromPort(d, port)
			_, again := fromPort(d, port)
			GinkgoWriter.Printf("first connection %s, same source port again %s\n", first, again)
			const row = "a SYN reusing a tracked source port, NAT, conn_reuse_mode=1, conntrack=1 (stall fixed in 5.9)"
			labtest.Measured("second connection from a reused source port, NAT, conn_reuse_mode=1, conntrack=1", "%s", again.Round(time.Millisecond))
			if labtest.KernelAtLeast(5, 9) {
				labtest.Behaviour(row, "%s", map[bool]string{true: "no stall", false: "stalled for a SYN retransmission"}[again < 900*time.Millisecond])
				Expect(again).To(BeNumerically("<", 900*time.Millisecond), "a reused port stalled for a SYN retransmission")
			} else {
				labtest.Behaviour(row, "%s", map[bool]string{true: "stalled for a SYN retransmission", false: "no stall"}[again >= 900*time.Millisecond])
				Expect(again).To(BeNumerically(">=", 900*time.Millisecond), "before 5.9 the reused port's SYN is dropped once")
			}
		})

		// kubernetes/kubernetes#81775, cloudnativelabs/kube-router#544:
		// conn_reuse_mode=0 reuses the old entry, so a reused port goes
		// back to its old server even at weight 0, which then never drains.
		DescribeTable("sends a reused source port to a weight-0 server only with conn_reuse_mode=0",
			func(mode string, backToDrained bool) {
				port++
				reusedPortAfterDrain(d, port, mode, backToDrained)
			},
			Entry("conn_reuse_mode=0: back to the drained server", "0", true),
			Entry("conn_reuse_mode=1: scheduled anew", "1", false),
		)

		// kubernetes/kubernetes#57841: the open connections of a
		// deleted server. With expire_nodest_conn=0 their entries stay and
		// IPVS drops their packets: they hang until the entry expires (900 s
		// for an established one). With 1 the next packet expires the entry;
		// the client's retransmission then reaches the director's own stack,
		// which resets it.
		DescribeTable("handles the open connections of a deleted server as expire_nodest_conn says",
			func(expire string, want error) {
				d.IPVSSysctl("expire_nodest_conn", expire)
				h := d.Hold(d.Sources(false)[2])
				Expect(d.Dir.DelReal(d.HTTP, d.Real(h.Server, 1, false))).To(Succeed())
				DeferCleanup(d.Dir.AddReal, d.HTTP, d.Real(h.Server, 1, false))
				_, err := h.Request()
				seen := "answered"
				switch {
				case errors.Is(err, os.ErrDeadlineExceeded):
					seen = "hangs"
				case errors.Is(err, syscall.ECONNRESET):
					seen = "reset"
				case err != nil:
					seen = err.Error()
				}
				labtest.Behaviour("an open connection to a deleted server, NAT, expire_nodest_conn="+expire, "%s", seen)
				Expect(err).To(MatchError(want))
			},
			Entry("expire_nodest_conn=0: the open connection hangs", "0", os.ErrDeadlineExceeded),
			Entry("expire_nodest_conn=1: the open connection is reset", "1", syscall.ECONNRESET),
		)
	})

	// Port reuse in DR: the director sees only the client's half, so a closed
	// connection stays in FIN_WAIT, which conn_reuse_mode=1 does not
	// reschedule; bit 2 (conn_reuse_mode=2) does (ipvs-sysctl.rst).
	Context("on a DR director", Ordered, Label("dr"), func() {
		var d *labtest.Lab
		BeforeAll(func() {
			d = labtest.Start(topology.ModeDR)
		})
		DescribeTable("sends a reused source port back to a weight-0 server unless conn_reuse_mode has bit 2",
			func(mode string, backToDrained bool) {
				port++
				reusedPortAfterDrain(d, port, mode, backToDrained)
			},
			Entry("conn_reuse_mode=1: back to the drained server", "1", true),
			Entry("conn_reuse_mode=2: scheduled anew", "2", false),
		)
	})

	// projectcalico/calico#7146. In TUN mode only the client's packets
	// are tunnelled (replies go straight back), so what must exceed the
	// tunnel's MTU is the request: full-size segments plus 20 bytes of
	// outer header. With pmtu_disc=1 (default) the director answers
	// "fragmentation needed" and the client shrinks its segments; if that
	// ICMP is filtered, the upload hangs; with pmtu_disc=0 the director
	// fragments the outer packet instead.
	Context("on a TUN director", Ordered, Label("tun"), func() {
		var d *labtest.Lab
		BeforeAll(func() {
			d = labtest.Start(topology.ModeTUN)
		})
		const size = 64 << 10
		upload := func() error {
			d.Client().SetSysctl("net.ipv4.route.flush", "1") // forget any path MTU learnt before
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, err := d.Client().Dial(ctx, "tcp", d.Sources(false)[0], d.VIP(false))
			if err != nil {
				return err
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(4 * time.Second))
			fmt.Fprintf(c, "POST / HTTP/1.0\r\nContent-Length: %d\r\n\r\n", size)
			if _, err := c.Write(bytes.Repeat([]byte("x"), size)); err != nil {
				return err
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				return err
			}
			if got, _ := strconv.Atoi(resp.Header.Get(harness.HeaderReceived)); got != size {
				return fmt.Errorf("server received %d of %d bytes", got, size)
			}
			return nil
		}
		blockFragNeeded := func() {
			Expect(harness.Nft(d.Client(), "table ip lvslab {\n chain in {\n  type filter hook input priority 0\n  icmp type destination-unreachable drop\n }\n}\n")).To(Succeed())
			DeferCleanup(harness.Nft, d.Client(), "delete table ip lvslab")
		}

		It("gets an upload bigger than the tunnel MTU through by path MTU discovery (pmtu_disc=1)", func() {
			err := upload()
			labtest.Behaviour("an upload over the tunnel MTU, TUN, pmtu_disc=1", "%s", outcome(err))
			Expect(err).To(Succeed())
			routes, err := d.Client().Netlink().RouteGet(d.Spec.VIP.IPv4.AsSlice())
			Expect(err).NotTo(HaveOccurred())
			labtest.Behaviour("the path MTU the client learns from a TUN director", "%d", routes[0].MTU)
			Expect(routes[0].MTU).To(Equal(1480), "the client learnt the tunnel's path MTU from the director")
		})

		It("hangs that upload when the director's 'fragmentation needed' is filtered (the MTU black hole)", func() {
			blockFragNeeded()
			err := upload()
			labtest.Behaviour("that upload with ICMP 'fragmentation needed' filtered, TUN, pmtu_disc=1", "%s", outcome(err))
			Expect(err).To(HaveOccurred())
			Expect(err.Error()).To(ContainSubstring("timeout"))
		})

		It("gets it through even so when the director fragments instead (pmtu_disc=0)", func() {
			blockFragNeeded()
			d.IPVSSysctl("pmtu_disc", "0")
			err := upload()
			labtest.Behaviour("that upload with ICMP filtered, TUN, pmtu_disc=0", "%s", outcome(err))
			Expect(err).To(Succeed())
		})
	})
})

// outcome says how an attempt ended, for the behaviour table.
func outcome(err error) string {
	switch {
	case err == nil:
		return "gets through"
	case strings.Contains(err.Error(), "timeout"):
		return "hangs (timeout)"
	default:
		return err.Error()
	}
}

// fromPort makes one HTTP/1.0 request from a fixed source port (the server
// closes first, so the client can reuse the port at once while IPVS still
// tracks the old connection) and says who answered and how long it took.
func fromPort(d *labtest.Lab, p int) (string, time.Duration) {
	GinkgoHelper()
	src := d.Sources(false)[0]
	var start time.Time
	var c net.Conn
	dial := func() (err error) {
		dialer := net.Dialer{LocalAddr: &net.TCPAddr{IP: src.AsSlice(), Port: p}, Timeout: 5 * time.Second,
			Control: func(_, _ string, rc syscall.RawConn) error {
				return rc.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1) })
			}}
		start = time.Now()
		c, err = dialer.Dial("tcp", d.VIP(false).String())
		return err
	}
	// The port's last connection holds it in LAST_ACK until the server's
	// ACK of the client's FIN arrives, which a loaded host delays: connect
	// fails locally with EADDRNOTAVAIL, sends nothing, and may be retried.
	Eventually(func() error {
		err := d.Client().Do(dial)
		if err != nil && !errors.Is(err, syscall.EADDRNOTAVAIL) {
			return StopTrying("connect from port " + fmt.Sprint(p)).Wrap(err)
		}
		return err
	}).WithTimeout(3 * time.Second).WithPolling(50 * time.Millisecond).Should(Succeed())
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "GET / HTTP/1.0\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	Expect(err).NotTo(HaveOccurred())
	io.Copy(io.Discard, resp.Body)
	took := time.Since(start)
	// Wait for the server's FIN, so the client closes second and keeps no
	// TIME_WAIT: its port is free again at once.
	_, err = br.ReadByte()
	Expect(err).To(MatchError(io.EOF))
	return resp.Header.Get(harness.HeaderServer), took
}

// reusedPortAfterDrain connects from a fixed source port, sets the server
// that answered to weight 0, connects from the same port again and checks
// where that connection went under the given conn_reuse_mode.
func reusedPortAfterDrain(d *labtest.Lab, port int, reuseMode string, backToDrained bool) {
	GinkgoHelper()
	d.IPVSSysctl("conn_reuse_mode", reuseMode)
	first, _ := fromPort(d, port)
	d.SetWeights(d.HTTP, map[string]int{first: 0})
	again, _ := fromPort(d, port)
	labtest.Behaviour(fmt.Sprintf("a source port reused after its server went to weight 0, %s, conn_reuse_mode=%s", strings.ToUpper(string(d.Spec.Mode)), reuseMode),
		"%s", map[bool]string{true: "back to the drained server", false: "scheduled anew"}[again == first])
	if backToDrained {
		Expect(again).To(Equal(first), "the old entry was rescheduled")
	} else {
		Expect(again).NotTo(Equal(first), "a new connection reached a weight-0 server")
	}
}
