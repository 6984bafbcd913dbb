//go:build linux

package topology

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
)

// Impairment is what a node's link does to the packets the node sends on
// it, as a real link would: netem's delay, jitter, loss, duplication,
// reordering and corruption, and a TBF rate limit behind it. Both act on
// the link's egress only (that is where a qdisc sits), so impairing a
// path both ways takes the links at both of its ends. The zero value is a
// clean link.
type Impairment struct {
	Delay  time.Duration `json:"delay,omitzero"`
	Jitter time.Duration `json:"jitter,omitzero"`
	// Loss, Duplicate, Reorder and Corrupt are percentages of packets.
	Loss      float64 `json:"loss,omitzero"`
	Duplicate float64 `json:"duplicate,omitzero"`
	Reorder   float64 `json:"reorder,omitzero"`
	Corrupt   float64 `json:"corrupt,omitzero"`
	// Rate is a limit in bits per second (0: none).
	Rate uint64 `json:"rate,omitzero"`
}

// The ranges an impairment is checked against. A delay beyond MaxDelay is
// a dead link, which SetLinkUp models better; the rates are those TBF
// meters sensibly at the kernel's timer resolution.
const (
	MaxDelay = 10 * time.Second
	MinRate  = 8_000           // 8 kbit/s
	MaxRate  = 100_000_000_000 // 100 Gbit/s
)

// ImpairmentError is one out-of-range value: Field is its name in the
// topology file and on the command line.
type ImpairmentError struct {
	Field string
	Msg   string
}

func (e *ImpairmentError) Error() string { return e.Field + " " + e.Msg }

// Check refuses values out of range, naming each with its range.
func (im Impairment) Check() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &ImpairmentError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	if im.Delay < 0 || im.Delay > MaxDelay {
		bad("delay", "%s: use 0 to %s", im.Delay, MaxDelay)
	}
	if im.Jitter < 0 || im.Jitter > im.Delay {
		bad("jitter", "%s: use 0 to the delay (%s); netem's jitter varies the delay", im.Jitter, im.Delay)
	}
	for _, p := range []struct {
		field string
		v     float64
	}{{"loss", im.Loss}, {"duplicate", im.Duplicate}, {"reorder", im.Reorder}, {"corrupt", im.Corrupt}} {
		if math.IsNaN(p.v) || p.v < 0 || p.v > 100 {
			bad(p.field, "%g%%: use 0 to 100%%", p.v)
		}
	}
	if im.Reorder > 0 && im.Delay == 0 {
		bad("reorder", "%g%% needs a delay: netem reorders by sending some packets at once and delaying the rest", im.Reorder)
	}
	if im.Rate != 0 && (im.Rate < MinRate || im.Rate > MaxRate) {
		bad("rate", "%s: use %s to %s (0: no limit)", FormatRate(im.Rate), FormatRate(MinRate), FormatRate(MaxRate))
	}
	return errors.Join(errs...)
}

// IsZero says the link is clean.
func (im Impairment) IsZero() bool { return im == Impairment{} }

// String is the impairment as tc would say it ("" for a clean link).
func (im Impairment) String() string {
	var parts []string
	if im.Delay > 0 {
		parts = append(parts, "delay "+im.Delay.String())
	}
	if im.Jitter > 0 {
		parts = append(parts, "jitter "+im.Jitter.String())
	}
	for _, p := range []struct {
		name string
		v    float64
	}{{"loss", im.Loss}, {"duplicate", im.Duplicate}, {"reorder", im.Reorder}, {"corrupt", im.Corrupt}} {
		if p.v > 0 {
			parts = append(parts, fmt.Sprintf("%s %g%%", p.name, p.v))
		}
	}
	if im.Rate > 0 {
		parts = append(parts, "rate "+FormatRate(im.Rate))
	}
	return strings.Join(parts, " ")
}

// ParseRate reads a rate in bits per second as tc writes it: a number and
// an optional unit bit, kbit, mbit or gbit (decimal, as tc's).
func ParseRate(s string) (uint64, error) {
	units := []struct {
		suffix string
		mult   float64
	}{{"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3}, {"bit", 1}}
	num, mult := strings.ToLower(strings.TrimSpace(s)), 1.0
	for _, u := range units {
		if strings.HasSuffix(num, u.suffix) {
			num, mult = strings.TrimSuffix(num, u.suffix), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v < 0 || math.IsInf(v, 0) || v*mult > math.MaxUint64/2 {
		return 0, fmt.Errorf("rate %q: write bits per second as a number and bit, kbit, mbit or gbit (e.g. 10mbit)", s)
	}
	return uint64(math.Round(v * mult)), nil
}

// FormatRate writes a rate in bits per second in the largest unit that
// keeps it whole-ish ("10Mbit").
func FormatRate(bps uint64) string {
	switch {
	case bps >= 1e9:
		return strconv.FormatFloat(float64(bps)/1e9, 'g', -1, 64) + "Gbit"
	case bps >= 1e6:
		return strconv.FormatFloat(float64(bps)/1e6, 'g', -1, 64) + "Mbit"
	case bps >= 1e3:
		return strconv.FormatFloat(float64(bps)/1e3, 'g', -1, 64) + "Kbit"
	}
	return strconv.FormatUint(bps, 10) + "bit"
}

// The qdiscs an impairment is made of: netem at the root of the link and
// TBF as its child (or alone at the root for a rate alone), as "tc qdisc add dev L root handle 1: netem … ;
// tc qdisc add dev L parent 1:1 handle 10: tbf …" would make them.
var (
	netemHandle = netlink.MakeHandle(1, 0)
	tbfParent   = netlink.MakeHandle(1, 1)
	tbfHandle   = netlink.MakeHandle(10, 0)
)

// tbfLatency is how long TBF queues a packet before dropping it, tc's
// customary 50 ms: long enough to absorb a burst, short enough that a
// rate limit shows as a rate, not as a growing delay.
const tbfLatency = 50 * time.Millisecond

// Impair sets the impairment of the node's link on a segment, replacing
// any it had; the zero Impairment clears it.
func (n *Node) Impair(segment string, im Impairment) error {
	if err := im.Check(); err != nil {
		return fmt.Errorf("impair %s:%s: %w", n.Name, segment, err)
	}
	link, err := n.nl.LinkByName(segment)
	if err != nil {
		return fmt.Errorf("impair %s:%s: find link: %w", n.Name, segment, err)
	}
	if err := n.clearImpairment(link); err != nil {
		return fmt.Errorf("impair %s:%s: %w", n.Name, segment, err)
	}
	if im.IsZero() {
		return nil
	}
	idx := link.Attrs().Index
	tbfAt := uint32(netlink.HANDLE_ROOT)
	if im.needsNetem() {
		netem := netlink.NewNetem(netlink.QdiscAttrs{LinkIndex: idx, Handle: netemHandle, Parent: netlink.HANDLE_ROOT},
			netlink.NetemQdiscAttrs{
				Latency:     uint32(im.Delay.Microseconds()),
				Jitter:      uint32(im.Jitter.Microseconds()),
				Loss:        float32(im.Loss),
				Duplicate:   float32(im.Duplicate),
				ReorderProb: float32(im.Reorder),
				CorruptProb: float32(im.Corrupt),
			})
		if err := n.nl.QdiscAdd(netem); err != nil {
			return fmt.Errorf("impair %s:%s: add netem: %w (the kernel needs sch_netem)", n.Name, segment, err)
		}
		tbfAt = tbfParent
	}
	if im.Rate == 0 {
		return nil
	}
	bytesPerSec := im.Rate / 8
	// A bucket must hold at least a full frame, and the rate/HZ that tc
	// recommends so that the timer can keep up.
	burst := max(uint32(bytesPerSec/250), 3028)
	tbf := &netlink.Tbf{
		QdiscAttrs: netlink.QdiscAttrs{LinkIndex: idx, Handle: tbfHandle, Parent: tbfAt},
		Rate:       bytesPerSec,
		Buffer:     netlink.Xmittime(bytesPerSec, burst),
		Limit:      uint32(float64(bytesPerSec)*tbfLatency.Seconds()) + burst,
	}
	if err := n.nl.QdiscAdd(tbf); err != nil {
		err = fmt.Errorf("impair %s:%s: add tbf: %w (the kernel needs sch_tbf)", n.Name, segment, err)
		return errors.Join(err, n.clearImpairment(link))
	}
	return nil
}

// needsNetem says whether anything but a rate is asked for: a rate alone
// is TBF at the root, so it works on a kernel without sch_netem.
func (im Impairment) needsNetem() bool { return im != Impairment{Rate: im.Rate} }

// clearImpairment removes the link's root netem, and the TBF under it,
// or its root TBF; any other root qdisc is not lvslab's and stays.
func (n *Node) clearImpairment(link netlink.Link) error {
	qs, err := n.nl.QdiscList(link)
	if err != nil {
		return fmt.Errorf("list qdiscs: %w", err)
	}
	for _, q := range qs {
		_, netem := q.(*netlink.Netem)
		_, tbf := q.(*netlink.Tbf)
		if q.Attrs().Parent == netlink.HANDLE_ROOT && (netem || tbf && q.Attrs().Handle == tbfHandle) {
			if err := n.nl.QdiscDel(q); err != nil {
				return fmt.Errorf("delete %s: %w", q.Type(), err)
			}
		}
	}
	return nil
}

// Impairment reads back the impairment of the node's link on a segment
// from the kernel.
func (n *Node) Impairment(segment string) (Impairment, error) {
	link, err := n.nl.LinkByName(segment)
	if err != nil {
		return Impairment{}, fmt.Errorf("read impairment of %s:%s: find link: %w", n.Name, segment, err)
	}
	qs, err := n.nl.QdiscList(link)
	if err != nil {
		return Impairment{}, fmt.Errorf("read impairment of %s:%s: list qdiscs: %w", n.Name, segment, err)
	}
	var im Impairment
	for _, q := range qs {
		switch q := q.(type) {
		case *netlink.Netem:
			if q.Parent != netlink.HANDLE_ROOT {
				continue
			}
			im.Delay = ticksToDuration(q.Latency)
			im.Jitter = ticksToDuration(q.Jitter)
			im.Loss, im.Duplicate = percent(q.Loss), percent(q.Duplicate)
			im.Reorder, im.Corrupt = percent(q.ReorderProb), percent(q.CorruptProb)
		case *netlink.Tbf:
			if q.Handle == tbfHandle {
				im.Rate = q.Rate * 8
			}
		}
	}
	return im, nil
}

func ticksToDuration(ticks uint32) time.Duration {
	us := math.Round(float64(ticks) / netlink.TickInUsec())
	return time.Duration(us) * time.Microsecond
}

// percent undoes netlink's scaling of a percentage to 0..2^32-1, rounded
// to what a user can have written (three decimals).
func percent(v uint32) float64 {
	return math.Round(float64(v)/math.MaxUint32*100*1000) / 1000
}

// ParsePercent reads a percentage as tc writes it, "1%" or "1".
func ParsePercent(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(s), "%"), 64)
	if err != nil || math.IsNaN(v) {
		return 0, fmt.Errorf("%q is not a percentage: write it as 1%% or 0.5%%", s)
	}
	return v, nil
}

// Impairments reads every impaired link of the lab from the kernel, keyed
// by "node:link"; clean links are left out.
func (l *Lab) Impairments() (map[string]Impairment, error) {
	out := map[string]Impairment{}
	for _, n := range l.Nodes {
		for _, ls := range n.Links {
			im, err := n.Impairment(ls.Segment)
			if err != nil {
				return nil, err
			}
			if !im.IsZero() {
				out[n.Name+":"+ls.Segment] = im
			}
		}
	}
	return out, nil
}
