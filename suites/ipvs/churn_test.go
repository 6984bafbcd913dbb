//go:build linux

package ipvs_test

import (
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/lvslab/lvslab/harness"
	"github.com/lvslab/lvslab/loadgen"
	"github.com/lvslab/lvslab/suites/internal/labtest"
	"github.com/lvslab/lvslab/topology"
)

// Changes under load, in every mode: what clients see while a server is
// drained, added, removed, cut off, or the scheduler changes.
var _ = Describe("a director changed under load", func() {
	for _, mode := range []topology.Mode{topology.ModeNAT, topology.ModeDR, topology.ModeTUN} {
		// Serial: these specs count failures under load, and a second
		// Ginkgo process beside them on a small machine changes the counts.
		Context(fmt.Sprintf("in %s mode", modeName(mode)), Ordered, Serial, Label("churn", string(mode)), func() {
			var d *labtest.Lab
			BeforeAll(func() {
				d = labtest.Start(mode)
				if mode != topology.ModeNAT {
					// A DR or TUN director sees only the client's half, so the
					// last state it knows of a closed connection is FIN_WAIT. A
					// client that reuses such a connection's port (it does at
					// these rates) goes back to the old server, drained or
					// deleted, unless conn_reuse_mode has bit 2 (ipvs-sysctl.rst;
					// pinned in gotcha_test.go): the setting for DR and TUN.
					Expect(d.Dir.SetSysctl("conn_reuse_mode", "2")).To(Succeed())
				}
			})
			requests := func(name string) uint64 { return d.Server(name).Counters().Requests }
			// errorsAfter counts failures from second `from` of a run on.
			errorsAfter := func(res *loadgen.Result, from int) int64 {
				var n int64
				for _, s := range res.Series {
					if s.At >= from {
						n += s.Errors
					}
				}
				return n
			}

			It("drains a server set to weight 0: no new connections reach it and no request fails", func() {
				results := d.LoadInBackground(4, 4*time.Second)
				time.Sleep(time.Second)
				d.SetWeights(d.HTTP, map[string]int{"rs1": 0})
				time.Sleep(300 * time.Millisecond) // requests already sent to rs1 finish
				drained := requests("rs1")
				res := <-results
				GinkgoWriter.Printf("drain: %d requests, errors %v, series %+v\n", res.Requests, res.Errors, res.Series)
				Expect(res.Errors).To(BeEmpty(), "draining must not fail a request")
				Expect(requests("rs1")).To(Equal(drained), "rs1 got new connections at weight 0")
				Expect(res.Servers["rs2"]).To(BeNumerically(">", res.Servers["rs1"]))
			})

			It("brings an added server into service at once", func() {
				Expect(d.Dir.DelReal(d.HTTP, d.Real("rs8", 1, false))).To(Succeed())
				before := requests("rs8")
				results := d.LoadInBackground(4, 3*time.Second)
				time.Sleep(time.Second)
				Expect(d.Dir.AddReal(d.HTTP, d.Real("rs8", 1, false))).To(Succeed())
				res := <-results
				Expect(res.Errors).To(BeEmpty())
				Expect(requests("rs8")-before).To(BeNumerically(">", 0), "the added server took no connection")
			})

			// With expire_nodest_conn=0 the entries of a removed server stay
			// and IPVS drops their packets, so requests in flight on it hang
			// until they time out; with 1 the next packet expires the entry
			// and the client is reset (kubernetes/kubernetes#57841; pinned
			// one connection at a time in gotcha_test.go).
			DescribeTable("removes a server with failures as expire_nodest_conn promises",
				func(expire string) {
					d.IPVSSysctl("expire_nodest_conn", expire)
					results := d.LoadInBackground(4, 6*time.Second)
					time.Sleep(time.Second)
					Expect(d.Dir.DelReal(d.HTTP, d.Real("rs2", 1, false))).To(Succeed())
					DeferCleanup(d.Dir.AddReal, d.HTTP, d.Real("rs2", 1, false))
					stopped := requests("rs2")
					res := <-results
					GinkgoWriter.Printf("remove rs2, expire_nodest_conn=%s: %d requests, errors %v, errors from second 4 on: %d\n",
						expire, res.Requests, res.Errors, errorsAfter(res, 4))
					for kind := range res.Errors {
						Expect(kind).To(BeElementOf(loadgen.ErrReset, loadgen.ErrTimeout), "%v", res.Errors)
					}
					// Only requests in flight on rs2 (at most one per client) can be
					// affected, and new connections never are.
					Expect(res.ErrorCount()).To(BeNumerically("<=", 4), "more failures than requests in flight: %v", res.Errors)
					// Failures are counted when they end: a request hung at the
					// deletion (1 s) times out (2 s) by 3.x s; from 4 s on, none.
					Expect(errorsAfter(res, 4)).To(BeZero(), "clients must recover at once")
					Expect(requests("rs2")).To(BeNumerically("<=", stopped+4), "new connections reached the removed server")
				},
				Entry("expire_nodest_conn=1: what is in flight is cut, new connections go elsewhere", "1"),
				Entry("expire_nodest_conn=0: what is in flight hangs until it times out", "0"),
			)

			It("shows clients timeouts while a real server's link is down, and serves again once it is up", func() {
				rs := d.Node("rs3")
				results := d.LoadInBackground(4, 5*time.Second)
				time.Sleep(time.Second)
				Expect(rs.SetLinkUp(rs.Links[0].Segment, false)).To(Succeed())
				time.Sleep(1500 * time.Millisecond)
				Expect(rs.SetLinkUp(rs.Links[0].Segment, true)).To(Succeed())
				back := requests("rs3")
				res := <-results
				GinkgoWriter.Printf("link down 1.5 s without a health check: %d of %d requests failed: %v\n", res.ErrorCount(), res.Requests, res.Errors)
				Expect(res.ErrorCount()).To(BeNumerically(">", 0), "no health check: rr keeps sending to the cut-off server")
				for kind := range res.Errors {
					Expect(kind).To(Equal(loadgen.ErrTimeout))
				}
				Expect(requests("rs3")).To(BeNumerically(">", back), "rs3 serves again once its link is up")
			})

			It("changes the scheduler of a live service, refusing only what arrives during the switch", func() {
				results := d.LoadInBackground(4, 6*time.Second)
				time.Sleep(time.Second)
				d.SetScheduler(harness.Service{Addr: d.HTTP.Addr, Port: d.HTTP.Port, Scheduler: "wlc"})
				time.Sleep(time.Second)
				Expect(d.Dir.UpdateService(harness.Service{Addr: d.HTTP.Addr, Port: d.HTTP.Port, Scheduler: "mh"})).To(Succeed())
				res := <-results
				GinkgoWriter.Printf("scheduler changes under load: %d requests, errors %v, series %+v\n", res.Requests, res.Errors, res.Series)
				// The kernel unbinds the old scheduler and waits for an RCU grace
				// period before binding the new one; a SYN arriving in between
				// finds no scheduler, falls to the director's own stack and is
				// refused (or is lost, and the client's retransmission may come
				// too late for the request's timeout).
				for kind := range res.Errors {
					Expect(kind).To(BeElementOf(loadgen.ErrRefused, loadgen.ErrTimeout))
				}
				// Failures are counted when they end: a request lost in the
				// switch at 2 s times out (2 s) by 4 s; from 5 s on, none.
				Expect(errorsAfter(res, 5)).To(BeZero(), "refusals must stop once the new scheduler is bound")
			})
		})
	}
})
