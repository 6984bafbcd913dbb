//go:build linux

package topology

import (
	"errors"
	"flag"
	"fmt"
	"strings"
)

// percentFlag is a percentage flag: "1%" or "1".
type percentFlag struct{ v *float64 }

func (f percentFlag) String() string {
	if f.v == nil || *f.v == 0 {
		return ""
	}
	return fmt.Sprintf("%g%%", *f.v)
}

func (f percentFlag) Set(s string) (err error) {
	*f.v, err = ParsePercent(s)
	return err
}

// rateFlag is a rate in bits per second with tc's units.
type rateFlag struct{ v *uint64 }

func (f rateFlag) String() string {
	if f.v == nil || *f.v == 0 {
		return ""
	}
	return FormatRate(*f.v)
}

func (f rateFlag) Set(s string) (err error) {
	*f.v, err = ParseRate(s)
	return err
}

// ImpairmentFlags registers an Impairment's settings on fs as lvslab
// impair takes them, each flag named after its field.
func ImpairmentFlags(fs *flag.FlagSet, im *Impairment) {
	fs.DurationVar(&im.Delay, "delay", 0, fmt.Sprintf("delay every packet, 0 to %s", MaxDelay))
	fs.DurationVar(&im.Jitter, "jitter", 0, "vary the delay by up to this much, 0 to --delay")
	fs.Var(percentFlag{&im.Loss}, "loss", "drop this share of packets, 0 to 100%")
	fs.Var(percentFlag{&im.Duplicate}, "duplicate", "send this share of packets twice, 0 to 100%")
	fs.Var(percentFlag{&im.Reorder}, "reorder", "send this share of packets at once, ahead of the delayed rest, 0 to 100% (needs --delay)")
	fs.Var(percentFlag{&im.Corrupt}, "corrupt", "flip a bit in this share of packets, 0 to 100%")
	fs.Var(rateFlag{&im.Rate}, "rate", fmt.Sprintf("limit to this many bits per second, as tc writes it (10mbit), %s to %s",
		FormatRate(MinRate), FormatRate(MaxRate)))
}

// CheckFlags is Check with each out-of-range value named by its flag.
func (im Impairment) CheckFlags() error {
	err := im.Check()
	if err == nil {
		return nil
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	var parts []string
	for _, e := range errs {
		parts = append(parts, "--"+e.Error())
	}
	return errors.New(strings.Join(parts, "; "))
}

// Words is the impairment as String writes it, or "clean".
func (im Impairment) Words() string {
	if s := im.String(); s != "" {
		return s
	}
	return "clean"
}

// ImpairLinks sets im on every link, all or none: if the kernel refuses
// one, the links done before it, and it, get back what they had. done is
// called after each link.
func ImpairLinks(links []NodeLink, im Impairment, done func(NodeLink)) error {
	before := make([]Impairment, len(links))
	for i, l := range links {
		var err error
		if before[i], err = l.Node.Impairment(l.Link); err != nil {
			return err
		}
	}
	for i, l := range links {
		if err := l.Node.Impair(l.Link, im); err != nil {
			// Impair cleared this one first, so it is restored too.
			errs := []error{err}
			for j := range i + 1 {
				errs = append(errs, links[j].Node.Impair(links[j].Link, before[j]))
			}
			return errors.Join(errs...)
		}
		done(l)
	}
	return nil
}
