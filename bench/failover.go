//go:build linux

package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/lvslab/lvslab/harness"
	"github.com/lvslab/lvslab/harness/keepalived"
	"github.com/lvslab/lvslab/internal/proc"
	"github.com/lvslab/lvslab/loadgen"
	"github.com/lvslab/lvslab/topology"
)

// The failover benchmark: a keepalived director pair (topology.PaperHA)
// under a constant open-loop load, failed over again and again in each way
// asked, with and without the IPVS sync daemon. Each round fails the
// current master and measures the takeover three ways (the new master's
// VRRP notify, the VIP appearing on it, and the client's first answered
// request sent after the fault), the requests that failed, how many
// long-lived connections survived, and requests/s in 100 ms bins around
// the fault. The failed director then comes back as the backup (the pair
// runs with nopreempt, so roles swap each round).

// Failover kinds: how a round fails the master.
const (
	// FailoverCrash stops and kills every keepalived process of the master
	// and takes its links down (keepalived.Director.Crash); it comes back
	// as a restarted machine (a fresh namespace).
	FailoverCrash = "crash"
	// FailoverTerm stops keepalived gracefully (SIGTERM).
	FailoverTerm = "term"
	// FailoverBackLink takes only the master's link to the real servers down.
	FailoverBackLink = "backlink"
)

// FailoverKinds are the kinds lvslab failover knows.
var FailoverKinds = []string{FailoverCrash, FailoverTerm, FailoverBackLink}

// FailoverConfig is one failover benchmark.
type FailoverConfig struct {
	// Name is the lab's name.
	Name string        `json:"name,omitempty"`
	Mode topology.Mode `json:"mode"`
	// Kinds are interleaved within each sync setting: round 1 of each, then
	// round 2 of each…
	Kinds []string `json:"kinds"`
	// Sync lists the sync daemon settings to measure (both by default).
	Sync   []bool `json:"sync"`
	Rounds int    `json:"rounds"`
	// Rate is the open-loop load in requests/s, one new connection each.
	Rate float64 `json:"rate"`
	// Kept is how many long-lived connections each round holds across its
	// failover.
	Kept int `json:"kept"`
	// Before and After bound the window of each round around the fault.
	Before Seconds `json:"before_s"`
	After  Seconds `json:"after_s"`
	// Progress, if set, is called before each round.
	Progress func(FailoverStep) `json:"-"`
}

// FailoverStep says which round is about to run.
type FailoverStep struct {
	Done, Total int
	Kind        string
	Sync        bool
	Round       int
}

// Limits that keep a failover benchmark bounded.
const (
	MaxFailoverRounds = 100
	MaxFailoverRate   = 5000
)

// bin is the width of the figure's time bins.
const bin = 100 * time.Millisecond

// Validate checks the configuration and fills in defaults.
func (c *FailoverConfig) Validate() error {
	if c.Name == "" {
		c.Name = "failover"
	}
	if c.Mode == "" {
		c.Mode = topology.ModeNAT
	}
	if len(c.Kinds) == 0 {
		c.Kinds = []string{FailoverCrash, FailoverTerm}
	}
	if len(c.Sync) == 0 {
		c.Sync = []bool{true, false}
	}
	if c.Rate == 0 {
		c.Rate = 50
	}
	if c.Kept == 0 {
		c.Kept = 20
	}
	if c.Before == 0 {
		c.Before = Seconds(2 * time.Second)
	}
	if c.After == 0 {
		c.After = Seconds(6 * time.Second)
	}
	var errs []error
	if err := topology.CheckLabName(c.Name); err != nil {
		errs = append(errs, err)
	}
	if !c.Mode.Balanced() {
		errs = append(errs, fmt.Errorf("mode %q: a director pair fails over a virtual service: use nat, dr or tun", c.Mode))
	}
	for _, k := range c.Kinds {
		if !slices.Contains(FailoverKinds, k) {
			errs = append(errs, fmt.Errorf("kind %q: use crash, term or backlink", k))
		}
	}
	if c.Rounds < 1 || c.Rounds > MaxFailoverRounds {
		errs = append(errs, fmt.Errorf("rounds %d: use 1 to %d", c.Rounds, MaxFailoverRounds))
	}
	if c.Rate < 1 || c.Rate > MaxFailoverRate {
		errs = append(errs, fmt.Errorf("rate %g: use 1 to %d requests/s", c.Rate, MaxFailoverRate))
	}
	if c.Kept < 0 || c.Kept > 1000 {
		errs = append(errs, fmt.Errorf("kept connections %d: use 0 to 1000", c.Kept))
	}
	if before, after := c.Before.Duration(), c.After.Duration(); before < bin || before > time.Minute || after < 4*time.Second || after > time.Minute {
		errs = append(errs, fmt.Errorf("window %s before and %s after the fault: use 100ms-1m before and 4s-1m after (a crash takes up to 3.9 s)", c.Before, c.After))
	}
	return errors.Join(errs...)
}

// FailoverResult is everything a failover benchmark measured.
type FailoverResult struct {
	Env    Env              `json:"env"`
	Config FailoverSettings `json:"config"`
	Rounds []FailoverRound  `json:"rounds"`
	// Summary has one line per kind and sync setting.
	Summary []FailoverSummary `json:"summary"`
}

// FailoverSettings is the configuration a result was measured with: the
// FailoverConfig it ran, and the lab's fixed timing.
type FailoverSettings struct {
	FailoverConfig
	// Bin is the width of PerBin's bins.
	Bin Seconds `json:"bin_s"`
	// Advert is VRRP's advertisement interval (keepalived.Options' default);
	// priorities and health timing are the lab's too.
	Advert Seconds `json:"advert_s"`
}

// FailoverRound is one failover.
type FailoverRound struct {
	Kind  string `json:"kind"`
	Sync  bool   `json:"sync"`
	Round int    `json:"round"`
	From  string `json:"from"`
	To    string `json:"to"`
	// Takeover times, in seconds after the fault: the new master's VRRP
	// notify (MASTER), the VIP on its front link, and the client's view
	// (the first request sent after the fault that was answered, when it
	// was answered). Negative when it did not happen within the window.
	NotifyS float64 `json:"takeover_notify_s"`
	VIPS    float64 `json:"takeover_vip_s"`
	ClientS float64 `json:"takeover_client_s"`
	// Requests sent in the window and how many failed.
	Requests int64 `json:"requests"`
	Failed   int64 `json:"failed"`
	// Kept connections and how many answered intact after the takeover.
	Kept     int `json:"kept"`
	Survived int `json:"survived"`
	// PerBin is answered requests/s in bins of Bin from -Before on.
	PerBin []float64 `json:"requests_per_s"`
}

// FailoverSummary is one kind and sync setting over its rounds.
type FailoverSummary struct {
	Kind     string       `json:"kind"`
	Sync     bool         `json:"sync"`
	N        int          `json:"n"`
	Notify   TakeoverStat `json:"takeover_notify"`
	VIP      TakeoverStat `json:"takeover_vip"`
	Client   TakeoverStat `json:"takeover_client"`
	Failed   int64        `json:"failed"`
	Requests int64        `json:"requests"`
	Survived int          `json:"survived"`
	Kept     int          `json:"kept"`
}

// TakeoverStat is the median and the maximum of a takeover time over the
// rounds where it was seen (N of them).
type TakeoverStat struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50_s"`
	Max float64 `json:"max_s"`
}

// observed is one request of the load.
type observed struct {
	scheduled, done time.Time
	ok              bool
}

// RunFailover runs a failover benchmark. The lab it builds is gone when it
// returns, however it ends.
func RunFailover(ctx context.Context, cfg FailoverConfig) (res *FailoverResult, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("failover: %w", err)
	}
	if err := harness.CheckIPVS(); err != nil {
		return nil, err
	}
	start := time.Now()
	lab, err := harness.Start(ctx, topology.PaperHA(topology.WithName(cfg.Name), topology.WithMode(cfg.Mode)), harness.DefaultServerConfig)
	if err != nil {
		return nil, err
	}
	defer func() {
		err = errors.Join(err, lab.Close())
		if err != nil && ctx.Err() != nil && !errors.Is(err, errInterrupted) {
			err = fmt.Errorf("%w: %w", errInterrupted, err)
		}
	}()
	recorded := cfg
	recorded.Progress = nil // a result holds no callback
	res = &FailoverResult{
		Env: Env{GoVersion: runtime.Version(), Kernel: proc.KernelRelease(), CPUModel: cpuModel(), CPUs: runtime.NumCPU(),
			Accel: "host", Started: start.UTC(), Sysctls: map[string]string{}},
		Config: FailoverSettings{FailoverConfig: recorded, Bin: Seconds(bin), Advert: Seconds(time.Second)},
	}
	total := len(cfg.Sync) * cfg.Rounds * len(cfg.Kinds)
	for _, withSync := range cfg.Sync {
		rounds, err := failoverSeries(ctx, cfg, lab, withSync, len(res.Rounds), total)
		res.Rounds = append(res.Rounds, rounds...)
		if err != nil {
			return nil, err
		}
	}
	res.Summary = SummariseFailover(res)
	res.Env.Elapsed = time.Since(start).Seconds()
	return res, nil
}

// failoverSeries runs every round of one sync setting on a fresh pair.
func failoverSeries(ctx context.Context, cfg FailoverConfig, lab *harness.Lab, withSync bool, done, total int) (rounds []FailoverRound, err error) {
	// TCP_CHECK: the cheapest health check, since health is not measured here.
	pair, err := keepalived.Open(lab.Lab, keepalived.Options{Sync: withSync, NoPreempt: true, Check: "TCP_CHECK"})
	if err != nil {
		return nil, err
	}
	defer func() {
		err = errors.Join(err, pair.Close())
		// Both directors come out as from a restart: the next series
		// starts on clean tables.
		for _, d := range lab.Directors() {
			err = errors.Join(err, lab.Reboot(d.Name))
		}
	}()
	master, backup := pair.Director(topology.Director1), pair.Director(topology.Director2)
	wait, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := master.Start(); err != nil {
		return nil, err
	}
	if _, err := master.WaitVIP(wait); err != nil {
		return nil, err
	}
	if err := backup.Start(); err != nil {
		return nil, err
	}
	if _, err := backup.WaitState(wait, "BACKUP", time.Time{}); err != nil {
		return nil, err
	}

	// One constant load through every round of the series.
	var mu sync.Mutex
	var seen []observed
	load, err := loadgen.ForLab(lab.Lab, "vip", false)
	if err != nil {
		return nil, err
	}
	load.Rate, load.Clients, load.Timeout = cfg.Rate, 64, 5*time.Second
	load.Duration = loadgen.MaxDuration
	load.Observe = func(scheduled, done time.Time, err error) {
		mu.Lock()
		seen = append(seen, observed{scheduled, done, err == nil})
		mu.Unlock()
	}
	loadCtx, stopLoad := context.WithCancel(ctx)
	loadDone := make(chan error, 1)
	go func() {
		_, err := loadgen.Run(loadCtx, load)
		loadDone <- err
	}()
	defer func() {
		stopLoad()
		err = errors.Join(err, <-loadDone)
	}()

	for r := 1; r <= cfg.Rounds; r++ {
		for _, kind := range cfg.Kinds {
			if cfg.Progress != nil {
				cfg.Progress(FailoverStep{Done: done, Total: total, Kind: kind, Sync: withSync, Round: r})
			}
			done++
			round, at, err := failoverRound(ctx, cfg, lab, master, backup, kind)
			if err != nil {
				return rounds, fmt.Errorf("%s round %d (sync %v): %w", kind, r, withSync, err)
			}
			round.Kind, round.Sync, round.Round = kind, withSync, r
			mu.Lock()
			analyseRound(&round, seen, at, cfg)
			mu.Unlock()
			rounds = append(rounds, round)
			master, backup = backup, master
		}
	}
	return rounds, nil
}

// failoverRound fails the master in one way and brings it back as the
// backup; it returns the round (without its load figures) and the fault's
// instant.
func failoverRound(ctx context.Context, cfg FailoverConfig, lab *harness.Lab, master, backup *keepalived.Director, kind string) (FailoverRound, time.Time, error) {
	round := FailoverRound{From: master.Name(), To: backup.Name(), Kept: cfg.Kept, NotifyS: -1, VIPS: -1, ClientS: -1}
	if ctx.Err() != nil {
		return round, time.Time{}, ctx.Err()
	}
	kept, err := keepConnections(ctx, lab.Lab, cfg.Kept)
	defer func() {
		for _, c := range kept {
			c.Close()
		}
	}()
	if err != nil {
		return round, time.Time{}, err
	}
	// Long enough for the sync daemon to have sent the kept connections
	// (a buffer waits up to 2 s, its thread wakes every second) and for the
	// window before the fault to hold only steady load.
	before, after := cfg.Before.Duration(), cfg.After.Duration()
	if err := sleep(ctx, max(3500*time.Millisecond, before)); err != nil {
		return round, time.Time{}, err
	}
	// Watch before the fault: a graceful stop returns only once keepalived
	// has ended, well after the takeover.
	wait, cancel := context.WithTimeout(ctx, after+30*time.Second)
	defer cancel()
	gotVIP, err := backup.WatchVIP(wait)
	if err != nil {
		return round, time.Time{}, err
	}
	var at time.Time
	switch kind {
	case FailoverCrash:
		at, err = master.Crash()
	case FailoverTerm:
		at, err = master.Terminate()
	case FailoverBackLink:
		at, err = master.SetBackLinkUp(false)
	}
	if err != nil {
		return round, at, err
	}
	if t, err := gotVIP(); err == nil && t.Before(at.Add(after)) {
		round.VIPS = t.Sub(at).Seconds()
	}
	if e, err := backup.WaitState(wait, "MASTER", at); err == nil && e.At.Before(at.Add(after)) {
		round.NotifyS = e.At.Sub(at).Seconds()
	}
	if err := sleep(ctx, time.Until(at.Add(after))); err != nil {
		return round, at, err
	}
	for _, c := range kept {
		if c.ask() == nil {
			round.Survived++
		}
	}
	// The failed director comes back as the backup.
	back := time.Now()
	switch kind {
	case FailoverCrash:
		err = master.Reboot()
		if err == nil {
			err = master.Start()
		}
	case FailoverTerm:
		err = master.Start()
	case FailoverBackLink:
		_, err = master.SetBackLinkUp(true)
	}
	if err != nil {
		return round, at, err
	}
	again, stop := context.WithTimeout(ctx, time.Minute)
	defer stop()
	if _, err := master.WaitState(again, "BACKUP", back); err != nil {
		return round, at, fmt.Errorf("%s did not come back as the backup: %w", master.Name(), err)
	}
	return round, at, nil
}

// analyseRound fills in what the load saw in the round's window.
func analyseRound(r *FailoverRound, seen []observed, at time.Time, cfg FailoverConfig) {
	before, after := cfg.Before.Duration(), cfg.After.Duration()
	from, to := at.Add(-before), at.Add(after)
	bins := make([]float64, int((before+after)/bin))
	first := time.Duration(-1)
	for _, o := range seen {
		if o.scheduled.Before(from) || !o.scheduled.Before(to) {
			continue
		}
		r.Requests++
		if !o.ok {
			r.Failed++
			continue
		}
		if i := int(o.done.Sub(from) / bin); i >= 0 && i < len(bins) {
			bins[i] += float64(time.Second / bin)
		}
		if !o.scheduled.Before(at) && (first < 0 || o.done.Sub(at) < first) {
			first = o.done.Sub(at)
		}
	}
	if first >= 0 {
		r.ClientS = first.Seconds()
	}
	r.PerBin = bins
}

// SummariseFailover sums up the rounds per kind and sync setting.
func SummariseFailover(r *FailoverResult) []FailoverSummary {
	var out []FailoverSummary
	for _, withSync := range r.Config.Sync {
		for _, kind := range r.Config.Kinds {
			s := FailoverSummary{Kind: kind, Sync: withSync}
			var notify, vip, client []float64
			for _, rd := range r.Rounds {
				if rd.Kind != kind || rd.Sync != withSync {
					continue
				}
				s.N++
				s.Failed += rd.Failed
				s.Requests += rd.Requests
				s.Survived += rd.Survived
				s.Kept += rd.Kept
				for _, x := range []struct {
					v    float64
					into *[]float64
				}{{rd.NotifyS, &notify}, {rd.VIPS, &vip}, {rd.ClientS, &client}} {
					if x.v >= 0 {
						*x.into = append(*x.into, x.v)
					}
				}
			}
			s.Notify, s.VIP, s.Client = takeoverStat(notify), takeoverStat(vip), takeoverStat(client)
			out = append(out, s)
		}
	}
	return out
}

func takeoverStat(v []float64) TakeoverStat {
	if len(v) == 0 {
		return TakeoverStat{}
	}
	return TakeoverStat{N: len(v), P50: median(v), Max: slices.Max(v)}
}

// keptConn is a long-lived connection through the VIP.
type keptConn struct {
	net.Conn
	br *bufio.Reader
}

// keepConnections opens n connections through the VIP and makes one
// request on each: three packets from the client each, what the sync
// daemon needs to copy a connection (sync_threshold 3).
func keepConnections(ctx context.Context, lab *topology.Lab, n int) ([]*keptConn, error) {
	src := loadgen.SourcesFor(lab.Spec, false)
	vip := netip.AddrPortFrom(lab.Spec.VIP.IPv4, lab.Spec.VIP.Port)
	var out []*keptConn
	for i := range n {
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		c, err := lab.Client().Dial(dctx, "tcp", src[i%len(src)], vip)
		cancel()
		if err != nil {
			return out, fmt.Errorf("open a long-lived connection: %w", err)
		}
		k := &keptConn{Conn: c, br: bufio.NewReader(c)}
		out = append(out, k)
		if err := k.ask(); err != nil {
			return out, fmt.Errorf("first request on a long-lived connection: %w", err)
		}
	}
	return out, nil
}

// ask makes one request on a kept connection and checks the answer is
// whole.
func (k *keptConn) ask() error {
	k.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(k, "GET / HTTP/1.1\r\nHost: vip\r\n\r\n"); err != nil {
		return err
	}
	resp, err := http.ReadResponse(k.br, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	switch {
	case err != nil:
		return err
	case resp.StatusCode != http.StatusOK || len(body) != harness.DefaultServerConfig.BodySize:
		return fmt.Errorf("status %d, %d bytes of %d", resp.StatusCode, len(body), harness.DefaultServerConfig.BodySize)
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
