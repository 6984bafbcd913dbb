//go:build linux

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/lvslab/lvslab/topology"
)

func init() {
	register(&command{
		name: "impair",
		summary: "Impair links of a lab that is up as real links are: delay, jitter, loss, duplication, reordering, corruption (netem)\n" +
			"and a rate limit (TBF), on the packets each node sends on the link; --clear makes them clean, no setting shows them.",
		usage: "impair [--name N] NODE[:LINK]… [--delay D] [--jitter D] [--loss P%] [--duplicate P%] [--reorder P%] [--corrupt P%] [--rate R] | --clear",
		root:  true,
		run:   runImpair,
	})
}

// percentFlag is a percentage flag: "1%" or "1".
type percentFlag struct{ v *float64 }

func (f percentFlag) String() string {
	if f.v == nil || *f.v == 0 {
		return ""
	}
	return fmt.Sprintf("%g%%", *f.v)
}

func (f percentFlag) Set(s string) (err error) {
	*f.v, err = topology.ParsePercent(s)
	return err
}

// rateFlag is a rate in bits per second with tc's units.
type rateFlag struct{ v *uint64 }

func (f rateFlag) String() string {
	if f.v == nil || *f.v == 0 {
		return ""
	}
	return topology.FormatRate(*f.v)
}

func (f rateFlag) Set(s string) (err error) {
	*f.v, err = topology.ParseRate(s)
	return err
}

func runImpair(ctx context.Context, fs *flag.FlagSet, args []string) error {
	var im topology.Impairment
	name := fs.String("name", "", "lab whose links to impair (default: the only lab up)")
	fs.DurationVar(&im.Delay, "delay", 0, fmt.Sprintf("delay every packet, 0 to %s", topology.MaxDelay))
	fs.DurationVar(&im.Jitter, "jitter", 0, "vary the delay by up to this much, 0 to --delay")
	fs.Var(percentFlag{&im.Loss}, "loss", "drop this share of packets, 0 to 100%")
	fs.Var(percentFlag{&im.Duplicate}, "duplicate", "send this share of packets twice, 0 to 100%")
	fs.Var(percentFlag{&im.Reorder}, "reorder", "send this share of packets at once, ahead of the delayed rest, 0 to 100% (needs --delay)")
	fs.Var(percentFlag{&im.Corrupt}, "corrupt", "flip a bit in this share of packets, 0 to 100%")
	fs.Var(rateFlag{&im.Rate}, "rate", fmt.Sprintf("limit to this many bits per second, as tc writes it (10mbit), %s to %s",
		topology.FormatRate(topology.MinRate), topology.FormatRate(topology.MaxRate)))
	clear := fs.Bool("clear", false, "remove the links' impairments")
	words, err := parseInterspersed(find("impair"), fs, args)
	if err != nil {
		return err
	}
	if *clear && !im.IsZero() {
		return usageError{errors.New("--clear with an impairment: say either, not both")}
	}
	if err := im.Check(); err != nil {
		return usageError{impairmentFlags(err)}
	}
	if len(words) == 0 {
		return usageError{errors.New("name the links to impair: NODE (every link of it) or NODE:LINK")}
	}
	lab, err := labName(*name)
	if err != nil {
		return err
	}
	release, err := topology.Use(lab)
	if err != nil {
		return err
	}
	defer release()
	t, err := topology.Open(lab)
	if err != nil {
		return err
	}
	defer t.Detach()
	links, err := t.ParseLinks(words)
	if err != nil {
		return usageError{err}
	}
	if !*clear && im.IsZero() {
		for _, l := range links {
			got, err := l.Node.Impairment(l.Link)
			if err != nil {
				return err
			}
			fmt.Printf("%-16s %s\n", l, orClean(got.String()))
		}
		return nil
	}
	before := make([]topology.Impairment, len(links))
	for i, l := range links {
		if before[i], err = l.Node.Impairment(l.Link); err != nil {
			return err
		}
	}
	for i, l := range links {
		if err := l.Node.Impair(l.Link, im); err != nil {
			// All the links or none: the ones done, and this one (Impair
			// cleared it first), get what they had.
			errs := []error{err}
			for j := range i + 1 {
				errs = append(errs, links[j].Node.Impair(links[j].Link, before[j]))
			}
			return errors.Join(errs...)
		}
		fmt.Fprintf(os.Stderr, "lvslab impair: %s %s\n", l, orClean(im.String()))
	}
	return nil
}

func orClean(s string) string {
	if s == "" {
		return "clean"
	}
	return s
}

// impairmentFlags names each out-of-range value by its flag.
func impairmentFlags(err error) error {
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
