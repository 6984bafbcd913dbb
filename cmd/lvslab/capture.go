//go:build linux

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/term"

	"github.com/lvslab/lvslab/harness/capture"
)

func init() {
	register(&command{
		name: "capture",
		summary: "Capture packets on links of a lab that is up, as pcapng: one interface per node:link, streamed to a file or stdout\n" +
			"(-w - | wireshark -k -i -), until Ctrl-C, --duration or --count; the file is complete however it stops.",
		usage: "capture [--name N] NODE[:LINK]… [-w FILE|-] [--duration D] [--count N] [--filter EXPR] [--snaplen B]",
		root:  true,
		run:   runCapture,
	})
}

func runCapture(ctx context.Context, fs *flag.FlagSet, args []string) error {
	name := fs.String("name", "", "lab to capture in (default: the only lab up)")
	out := fs.String("w", "", "pcapng file to write, or - for stdout (default: stdout when it is not a terminal)")
	duration := fs.Duration("duration", 0, "stop after this long (0: at Ctrl-C or --count)")
	count := fs.Int("count", 0, "stop after this many packets, all links together (0: no limit)")
	filter := fs.String("filter", "", "keep only matching packets: terms joined by \"and\", each host ADDR, port N,\n"+
		"or one of ip, ip6, arp, tcp, udp, icmp, icmp6, vrrp, ipip (e.g. \"tcp and port 80\")")
	snaplen := fs.Int("snaplen", 0, fmt.Sprintf("bytes kept of each packet, 1 to %d (0: whole packets).\n"+
		"Memory is bounded: packets are written as they come, never held; each link takes one buffer of --snaplen bytes\n"+
		"and a kernel queue of %d MiB", capture.MaxSnapLen, capture.RecvBuffer>>20))
	words, err := parseInterspersed(find("capture"), fs, args)
	if err != nil {
		return err
	}
	f, err := capture.ParseFilter(*filter)
	if err != nil {
		return usageError{fmt.Errorf("--filter: %w", err)}
	}
	opts := capture.Options{Filter: f, SnapLen: *snaplen, Count: *count}
	if err := capture.CheckRun(*duration, opts); err != nil {
		return usageError{err}
	}
	switch {
	case len(words) == 0:
		return usageError{errors.New("name the links to capture: NODE (every link of it) or NODE:LINK")}
	case *out == "" && term.IsTerminal(int(os.Stdout.Fd())):
		return usageError{errors.New("stdout is a terminal: write to a file with -w FILE, or pipe -w - into a reader")}
	}
	t, done, err := useLab(*name)
	if err != nil {
		return err
	}
	defer done()
	targets, err := capture.Targets(t, words)
	if err != nil {
		return usageError{err}
	}
	var dst io.Writer = os.Stdout
	if *out != "" && *out != "-" {
		// O_EXCL: a capture never overwrites a file, nor follows a link
		// someone planted where it writes.
		file, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return usageError{fmt.Errorf("-w: %w (a capture writes a new file)", err)}
		}
		defer file.Close()
		dst = file
	}
	w, err := capture.NewWriter(dst, capture.Interfaces(targets, opts))
	if err != nil {
		return err
	}
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	fmt.Fprintf(os.Stderr, "lvslab capture: capturing on %d link(s) of lab %s; Ctrl-C stops with the file complete\n", len(targets), t.Spec.Name)
	// A tenth of a second: wireshark -k -i - feels live, and a busy link
	// costs one write per buffer, not one per packet.
	stopFlushing := w.FlushEvery(100 * time.Millisecond)
	stats, err := capture.Run(ctx, targets, opts, w)
	stopFlushing()
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	stats.Report(os.Stderr, "lvslab capture")
	return err
}
