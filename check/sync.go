//go:build linux

package check

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lvslab/lvslab/bench"
	"github.com/lvslab/lvslab/harness/keepalived"
)

// Sync: connections through the master that its sync daemon sent to the
// backup survive the master's crash. The kernel sends a connection once
// its packets from the client reach sync_threshold; the backup's daemon
// gets it within the master daemon's send interval. A connection that
// passed the threshold at least syncSettled before the crash must answer
// on the new master.

const (
	// syncConns is how many kept connections each service gets.
	syncConns = 20
	// syncServices bounds how many services are measured.
	syncServices = 3
	// syncEvery is how often each kept connection makes a request.
	syncEvery = 200 * time.Millisecond
	// syncSettled is how long before the crash a connection must have
	// passed the threshold to count: the master daemon sends its buffer
	// when full or after 2 s at the latest (ip_vs_sync.c).
	syncSettled = 2 * time.Second
	// syncThreshold is the kernel's default sync_threshold ("3 50").
	syncThreshold = 3
)

// keptConn is a keep-alive connection from the client through a VIP.
type keptConn struct {
	net.Conn
	br *bufio.Reader
	// answered counts its answered requests; qualified is when the one
	// that took it past sync_threshold was answered.
	answered  int
	qualified time.Time
	err       error
}

// ask makes one request and reads the whole answer.
func (k *keptConn) ask() error {
	k.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.WriteString(k, "GET / HTTP/1.1\r\nHost: lvslab-check\r\n\r\n"); err != nil {
		return err
	}
	resp, err := http.ReadResponse(k.br, nil)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return err
}

// syncService is a service whose connections the sync check keeps.
type syncService struct {
	s     Service
	vip   netip.AddrPort
	inst  string
	conns []*keptConn
}

func (e *env) syncCheck() []Result {
	var svcs []*syncService
	for _, s := range e.d.Services {
		if !s.Checked || s.Protocol != "tcp" || len(s.Addrs) == 0 || len(svcs) == syncServices {
			continue
		}
		for _, name := range e.instanceNames() {
			if slices.Contains(e.instanceVIPs(name), s.Addrs[0]) {
				svcs = append(svcs, &syncService{s: s, vip: netip.AddrPortFrom(s.Addrs[0], s.Port), inst: name})
				break
			}
		}
	}
	if len(svcs) == 0 {
		return []Result{{ID: "sync", Group: GroupSync, Title: "kept connections survive a failover", Status: NotChecked,
			Reason: "no TCP virtual service is on an address a VRRP instance moves"}}
	}
	ids := make([]string, len(svcs))
	for i, sv := range svcs {
		ids[i] = "sync/" + sv.vip.String()
	}
	if why := e.onePair(); why != "" {
		return notCheckedResults(GroupSync, ids, why)
	}
	h, err := e.awaitHome()
	if err != nil {
		return notCheckedResults(GroupSync, ids, err.Error())
	}
	master, names := e.mainMaster(h)
	svcs = slices.DeleteFunc(svcs, func(sv *syncService) bool { return !slices.Contains(names, sv.inst) })
	out := e.syncMeasure(svcs, master)
	if err := e.reboot(master); err == nil {
		err = e.restore(h)
	}
	if err != nil {
		for i := range out {
			out[i].Reason = strings.TrimPrefix(out[i].Reason+"; ", "; ") + "after it: " + err.Error()
		}
	}
	return out
}

// syncMeasure keeps connections through each service, crashes master,
// and asks once more on each after the takeover.
func (e *env) syncMeasure(svcs []*syncService, master string) []Result {
	to := e.other(master)
	threshold, thresholdWords := e.syncThreshold(master)
	need := syncRequests(threshold)
	t0 := time.Now()
	e.step("keeping %d connections through %d service(s), a request each every %s", syncConns*len(svcs), len(svcs), syncEvery)
	ctx, stop := context.WithCancel(e.ctx)
	var wg sync.WaitGroup
	for _, sv := range svcs {
		sv.conns = e.keepConns(sv.vip, syncConns)
		for _, k := range sv.conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				keepAsking(ctx, k, need)
			}()
		}
	}
	defer func() {
		for _, sv := range svcs {
			for _, k := range sv.conns {
				if k.Conn != nil {
					k.Close()
				}
			}
		}
	}()
	// Every connection passes the threshold within its first requests;
	// then syncSettled more.
	sleepCtx(e.ctx, time.Duration(need)*syncEvery+syncSettled+time.Second)
	stop()
	wg.Wait()
	late := e.late.Worst()
	var windows []Window
	for _, name := range e.instanceNames() {
		if s, ok := sideOf(e.sides(name, nil, master), to); ok && slices.ContainsFunc(svcs, func(sv *syncService) bool { return sv.inst == name }) {
			windows = append(windows, widenLate(s.Timing.masterDownWindow(s.Priority), late))
		}
	}
	w := unionWindow(windows)
	e.step("crashing %s with the connections open", e.nodeName(master))
	crashed, err := e.daemons[master].Crash()
	var took time.Duration
	if err == nil {
		took, err = e.awaitTakeover(svcs, to, crashed, w.Max+2*time.Second)
	}
	var out []Result
	for _, sv := range svcs {
		r := e.syncResult(sv, master, to, crashed, thresholdWords, need)
		r.Elapsed = bench.Seconds(time.Since(t0))
		if err != nil {
			r.Status, r.Reason = Inconclusive, "the crash and takeover: "+err.Error()
		} else {
			r.Measured += fmt.Sprintf("; %s took over after %s (within %s)", e.nodeName(to), roundMs(took), w)
		}
		out = append(out, r)
	}
	return out
}

// keepConns opens n keep-alive connections from the client's addresses
// to vip, bounded in time.
func (e *env) keepConns(vip netip.AddrPort, n int) []*keptConn {
	client := e.lab.Client()
	var sources []netip.Addr
	for _, l := range client.Links {
		if vip.Addr().Is4() {
			sources = append(sources, l.IPv4...)
		} else {
			sources = append(sources, l.IPv6...)
		}
	}
	var out []*keptConn
	for i := range n {
		src := netip.Addr{}
		if len(sources) > 0 {
			src = sources[i%len(sources)]
		}
		ctx, cancel := context.WithTimeout(e.ctx, 3*time.Second)
		c, err := client.Dial(ctx, "tcp", src, vip)
		cancel()
		k := &keptConn{err: err}
		if err == nil {
			k.Conn, k.br = c, bufio.NewReader(c)
		}
		out = append(out, k)
	}
	return out
}

// keepAsking asks on k every syncEvery until ctx ends or a request fails,
// noting when the need-th answer came.
func keepAsking(ctx context.Context, k *keptConn, need int) {
	if k.err != nil {
		return
	}
	for {
		if k.err = k.ask(); k.err != nil {
			return
		}
		k.answered++
		if k.answered == need {
			k.qualified = time.Now()
		}
		if sleepCtx(ctx, syncEvery) != nil {
			return
		}
	}
}

// awaitTakeover waits until the new master holds every service's VIP
// and notified MASTER (its gratuitous ARPs sent), and returns how long
// the first VIP took.
func (e *env) awaitTakeover(svcs []*syncService, to string, crashed time.Time, d time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithDeadline(e.ctx, crashed.Add(d))
	defer cancel()
	var first time.Time
	for _, sv := range svcs {
		a, err := e.addrs.wait(ctx, crashed, func(a addrEvent) bool { return a.Node == to && a.Addr == sv.vip.Addr() && a.New })
		if err != nil {
			return 0, fmt.Errorf("%s did not take %s within %s", e.nodeName(to), sv.vip.Addr(), roundMs(d))
		}
		if first.IsZero() || a.At.Before(first) {
			first = a.At
		}
		inst := sv.inst
		if _, err := e.events.WaitEvent(ctx, crashed, func(ev keepalived.Event) bool {
			return ev.Director == to && ev.Kind == "INSTANCE" && ev.Name == inst && ev.State == "MASTER"
		}); err != nil {
			return 0, fmt.Errorf("%s did not notify MASTER for %s: %w", e.nodeName(to), inst, err)
		}
	}
	return first.Sub(crashed), nil
}

// syncResult asks once more on every kept connection of a service and
// counts the survivors.
func (e *env) syncResult(sv *syncService, master, to string, crashed time.Time, thresholdWords string, need int) Result {
	r := Result{ID: "sync/" + sv.vip.String(), Group: GroupSync, Where: []Pos{sv.s.Pos},
		Title: fmt.Sprintf("connections through %s that the sync daemon sent survive %s's crash on %s", sv.vip, e.nodeName(master), e.nodeName(to))}
	daemons := 0
	for _, d := range e.b.Directors {
		if sd := d.Conf.Global.SyncDaemon; sd != nil {
			daemons++
			r.Where = append(r.Where, posOf(sd.Pos))
		}
	}
	var wg sync.WaitGroup
	survived := make([]bool, len(sv.conns))
	for i, k := range sv.conns {
		if k.err != nil || k.answered == 0 {
			continue // it failed before the crash
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			survived[i] = k.ask() == nil
		}()
	}
	wg.Wait()
	opened, qualified, kept, others := 0, 0, 0, 0
	for i, k := range sv.conns {
		if k.Conn != nil {
			opened++
		}
		ok := k.err == nil && !k.qualified.IsZero() && !k.qualified.After(crashed.Add(-syncSettled))
		switch {
		case ok:
			qualified++
			if survived[i] {
				kept++
			}
		case survived[i]:
			others++
		}
	}
	r.Bound = fmt.Sprintf("every connection that passed sync_threshold (%s: its handshake and %d request(s)) at least %s before the crash answers on %s",
		thresholdWords, need, syncSettled, e.nodeName(to))
	r.Measured = fmt.Sprintf("%d of %d connections opened, %d qualified; %d of the %d qualified answered after the takeover (and %d of the others)",
		opened, len(sv.conns), qualified, kept, qualified, others)
	var subjects []string
	for _, rr := range sv.s.Reals {
		subjects = append(subjects, subjReal(rr.Addr), subjApp(rr.Addr, rr.Port))
	}
	r.RestsOn = e.d.RestsOn(append(subjects, e.vipSubjects(sv.vip.Addr())...)...)
	switch {
	case daemons < len(e.b.Directors):
		r.Status, r.Reason = NotChecked, fmt.Sprintf("for information: %d of the 2 files run lvs_sync_daemon, so nothing promises these connections survive", daemons)
	case qualified == 0:
		r.Status, r.Reason = Inconclusive, "no connection passed sync_threshold in time: see the connections' errors in the measured line"
	case kept < qualified:
		r.Status, r.Reason = Fail, fmt.Sprintf("%d synced connection(s) died with the master", qualified-kept)
	default:
		r.Status = Pass
	}
	if errs := connErrors(sv.conns); errs != "" && r.Status != Pass {
		r.Measured += "; before the crash: " + errs
	}
	return r
}

// connErrors sums up why connections failed before the crash.
func connErrors(conns []*keptConn) string {
	count := map[string]int{}
	for _, k := range conns {
		if k.err != nil {
			count[k.err.Error()]++
		}
	}
	var parts []string
	for _, msg := range sortedKeys(count) {
		parts = append(parts, fmt.Sprintf("%d × %s", count[msg], msg))
	}
	return strings.Join(parts, ", ")
}

// syncThreshold is the master's sync_threshold: captured, else the
// kernel's default.
func (e *env) syncThreshold(node string) (int, string) {
	if m := e.machine(node); m != nil {
		if v, ok := m.Sysctls["net.ipv4.vs.sync_threshold"]; ok {
			if n, err := strconv.Atoi(strings.Fields(v + " 0")[0]); err == nil && n > 0 {
				return n, fmt.Sprintf("net.ipv4.vs.sync_threshold %s (captured)", v)
			}
		}
	}
	return syncThreshold, fmt.Sprintf("net.ipv4.vs.sync_threshold %d 50 (the kernel's default)", syncThreshold)
}
