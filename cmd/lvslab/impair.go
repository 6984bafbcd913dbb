//go:build linux

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

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

func runImpair(ctx context.Context, fs *flag.FlagSet, args []string) error {
	var im topology.Impairment
	name := fs.String("name", "", "lab whose links to impair (default: the only lab up)")
	topology.ImpairmentFlags(fs, &im)
	clear := fs.Bool("clear", false, "remove the links' impairments")
	words, err := parseInterspersed(find("impair"), fs, args)
	if err != nil {
		return err
	}
	if *clear && !im.IsZero() {
		return usageError{errors.New("--clear with an impairment: say either, not both")}
	}
	if err := im.CheckFlags(); err != nil {
		return usageError{err}
	}
	if len(words) == 0 {
		return usageError{errors.New("name the links to impair: NODE (every link of it) or NODE:LINK")}
	}
	t, done, err := useLab(*name)
	if err != nil {
		return err
	}
	defer done()
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
			fmt.Printf("%-16s %s\n", l, got.Words())
		}
		return nil
	}
	return topology.ImpairLinks(links, im, func(l topology.NodeLink) {
		fmt.Fprintf(os.Stderr, "lvslab impair: %s %s\n", l, im.Words())
	})
}
