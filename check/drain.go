//go:build linux

package check

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/lvslab/lvslab/bench"
	"github.com/lvslab/lvslab/harness"
	"github.com/lvslab/lvslab/harness/ipvsadm"
	"github.com/lvslab/lvslab/harness/keepalived/conf"
)

// Drain: under an open-loop load through a service, one real server's
// weight goes to 0, as an operator drains it for maintenance: no request
// fails, and no connection opened after the change reaches it (IPVS
// schedules only servers of weight above 0; connections already open
// finish there). The weight is restored after.

const (
	// drainRate for drainFor, the weight set to 0 drainAt into the run:
	// 500 requests, 200 before the change to show the server was in
	// rotation, 300 after.
	drainRate     = 100.0
	drainFor      = 5 * time.Second
	drainAt       = 2 * time.Second
	drainInflight = 32
	// drainMax bounds the services a run drains (each takes drainFor): a
	// large table has a sample drained.
	drainMax = 4
)

func (e *env) drain() []Result {
	return e.sampled(GroupDrain, drainMax, e.drainOne, func(left, chosen int) string {
		return fmt.Sprintf("%d of %d services not drained: a drain takes %s, so %d were (the first of each scheduler, protocol and persistence)",
			left, len(e.d.Services), drainFor, chosen)
	})
}

func (e *env) drainOne(s Service) (r Result) {
	r = Result{ID: "drain/" + s.Key, Group: GroupDrain, Where: []Pos{s.Pos},
		Title: s.Key + " drains a real server set to weight 0 under load, without a failed request"}
	t0 := time.Now()
	defer func() { r.Elapsed = bench.Seconds(time.Since(t0)) }()
	t, node, st, ok := e.serviceUnderLoad(s, &r)
	if !ok {
		return r
	}
	lv := live(st)
	if len(lv) < 2 {
		r.Status, r.Reason = NotChecked, fmt.Sprintf("%d live real server(s) in %s: a drain needs another to take the load", len(lv), node)
		return r
	}
	victim, note, ok := e.drainable(s, st, lv)
	if !ok {
		r.Status, r.Reason = NotChecked, note
		return r
	}
	keeps := ""
	if st.Persistent {
		if v, _ := e.lab.Node(node).Sysctl("net.ipv4.vs.expire_quiescent_template"); v != "1" {
			keeps = "; with expire_quiescent_template 0, a client whose persistence template names it stays on it (ipvs-sysctl.rst), so only clients it had not served before count"
		}
	}
	name := victim.Addr.String()
	r.Bound = fmt.Sprintf("0 failed of %d requests (%g/s for %s, %s's weight 0 after %s); no connection opened after the change reaches it%s%s",
		int(drainRate*drainFor.Seconds()), drainRate, drainFor, name, drainAt, keeps, note)

	dir := e.ipvs[node]
	var changeStart, changed time.Time
	var changeErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case <-time.After(drainAt):
		case <-e.ctx.Done():
			changeErr = e.ctx.Err()
			return
		}
		changeStart = time.Now()
		changeErr = dir.UpdateReal(st.Service, harness.Real{Addr: victim.Addr, Port: victim.Port, Weight: 0, Method: victim.Method})
		changed = time.Now()
	}()
	srcs := e.sources(t.addr.Addr().Is6())
	replies := e.paced(e.ctx, t, drainRate, drainFor, drainInflight, func(i int) netip.Addr { return srcs[i%len(srcs)] })
	<-done
	restoreErr := dir.UpdateReal(st.Service, victim.Real)
	bits := t.addr.Addr().BitLen()
	if st.Persistent && st.PersistenceBits > 0 {
		bits = st.PersistenceBits
	}
	c := countDrain(replies, name, changeStart, changed, bits, keeps != "")
	failed, errs := failures(replies)
	r.Measured = fmt.Sprintf("%d requests, %d failed; %s answered %d of %d sent before the change, %d of %d after",
		len(replies), failed, name, c.before, c.sentBefore, c.after+c.kept, c.sentAfter)
	if c.kept > 0 {
		r.Measured += fmt.Sprintf(" (%d of them clients its persistence templates keep)", c.kept)
	}
	switch {
	case changeErr != nil:
		r.Status, r.Reason = Inconclusive, fmt.Sprintf("could not set %s's weight to 0: %v", name, changeErr)
	case failed > 0:
		r.Status, r.Reason = Fail, fmt.Sprintf("%d request(s) failed: %s", failed, errs)
	case c.after > 0:
		r.Status, r.Reason = Fail, fmt.Sprintf("%d new connection(s) reached %s after its weight was 0", c.after, name)
	case c.before == 0:
		r.Status, r.Reason = Inconclusive, fmt.Sprintf("%s answered nothing before the change either: the drain shows nothing", name)
	default:
		r.Status = Pass
	}
	if restoreErr != nil {
		r.Reason = joinReason(r.Reason, fmt.Sprintf("restoring its weight %d failed, so the checks after this see it at 0: %v", victim.Weight, restoreErr))
		if r.Status == Pass {
			r.Status = Inconclusive
		}
	}
	return r
}

// drainCount splits the drained server's answers by when each request
// was sent: before the change began, after it returned (a request sent
// meanwhile may go either way and counts in neither).
type drainCount struct {
	// sentBefore and sentAfter count every request on either side.
	sentBefore, sentAfter int
	before, after         int
	// kept are answers after the change to clients it had served before,
	// which a persistence template keeps there.
	kept int
}

func countDrain(replies []reply, name string, changeStart, changed time.Time, bits int, templatesKeep bool) drainCount {
	var c drainCount
	served := map[netip.Prefix]bool{}
	for _, rep := range replies {
		if rep.sent.Before(changeStart) {
			c.sentBefore++
		} else if !changed.IsZero() && rep.sent.After(changed) {
			c.sentAfter++
		}
		if rep.err != nil || rep.server != name || changed.IsZero() {
			continue
		}
		g, _ := rep.src.Prefix(bits)
		switch {
		case rep.sent.Before(changeStart):
			c.before++
			served[g] = true
		case rep.sent.After(changed) && templatesKeep && served[g]:
			c.kept++
		case rep.sent.After(changed):
			c.after++
		}
	}
	return c
}

// drainable picks the real server to drain: the last live one whose
// weight nothing else sets back (keepalived sets a weight only when a
// checker changes state, or from a MISC_CHECK with misc_dynamic each
// time it runs), and whose restore loses nothing (harness.Real has no
// connection thresholds). It returns a note for the bound.
func (e *env) drainable(s Service, st harness.ServiceState, lv []harness.RealState) (harness.RealState, string, bool) {
	var why string
	for i := len(lv) - 1; i >= 0; i-- {
		x := lv[i]
		switch {
		case e.dynamicWeight(x.Addr):
			why = fmt.Sprintf("%s's MISC_CHECK sets its weight each run (misc_dynamic)", x.Addr)
		case e.thresholds(st, x):
			why = fmt.Sprintf("%s has connection thresholds (-x/-y), which restoring its weight would clear", x.Addr)
		default:
			note := ""
			if len(e.b.Directors) > 0 {
				note = fmt.Sprintf("; keepalived sets a weight only when a checker changes state: %s stays up, so keepalived leaves the 0 alone", x.Addr)
			}
			return x, note, true
		}
	}
	return harness.RealState{}, "no real server can be drained and restored: " + why, false
}

func (e *env) dynamicWeight(a netip.Addr) bool {
	for _, d := range e.b.Directors {
		for _, vs := range d.Conf.VirtualServers {
			for _, rs := range vs.Reals {
				if rs.Addr.Addr() == a && slices.ContainsFunc(rs.Checkers, func(c conf.Checker) bool { return c.Kind == "MISC_CHECK" && c.MiscDynamic.Value }) {
					return true
				}
			}
		}
	}
	return false
}

func (e *env) thresholds(st harness.ServiceState, x harness.RealState) bool {
	if e.b.Rules == nil {
		return false
	}
	key := ipvsadm.ServiceKey{Protocol: st.Protocol, Addr: st.Addr, Port: st.Port}
	if st.FWMark != 0 {
		key = ipvsadm.ServiceKey{Addr: netip.IPv4Unspecified(), FWMark: st.FWMark}
		if st.Addr.Is6() {
			key.Addr = netip.IPv6Unspecified()
		}
	}
	rs := e.b.Rules.Service(key)
	if rs == nil {
		return false
	}
	r := rs.Real(x.Addr, x.Port)
	return r != nil && (r.UpperThreshold > 0 || r.LowerThreshold > 0)
}

func joinReason(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
