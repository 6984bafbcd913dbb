//go:build linux

// Command rules-restore measures loading a large IPVS rules file into a
// lab's director: parse time and memory, ipvsadm.Restore's time, the same
// file through "ipvsadm -R" and, with -moby, through harness.Director's
// one-call-per-rule moby/ipvs path, each into a new lab's director; after
// each, "ipvsadm -S -n" must read back to the table it loaded. It needs
// root and ip_vs: run it in the VM,
//
//	go build -o bin/rules-restore ./experiments/rules-restore
//	bin/lvslab vm -- bin/rules-restore
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/lvslab/lvslab/harness"
	"github.com/lvslab/lvslab/harness/ipvsadm"
	"github.com/lvslab/lvslab/topology"
)

func main() {
	c := ipvsadm.KubernetesScale
	c.RegisterFlags(flag.CommandLine)
	withIpvsadm := flag.Bool("ipvsadm", true, "also time ipvsadm -R on the same file")
	withMoby := flag.Bool("moby", false, "also time harness.Director.AddService/AddReal (moby/ipvs)")
	reload := flag.Bool("reload", false, "also time ipvsadm.Restore into a table just cleared of the same rules")
	flag.Parse()
	if err := run(c, *withIpvsadm, *withMoby, *reload); err != nil {
		fmt.Fprintln(os.Stderr, "rules-restore:", err)
		os.Exit(1)
	}
}

func run(c ipvsadm.SyntheticConfig, withIpvsadm, withMoby, reload bool) error {
	tab, err := ipvsadm.Synthetic(c)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "rules-restore")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "k8s.rules")
	var text bytes.Buffer
	if err := ipvsadm.Write(&text, tab); err != nil {
		return err
	}
	if err := os.WriteFile(file, text.Bytes(), 0o644); err != nil {
		return err
	}
	services, reals := tab.Counts()
	fmt.Printf("table: %d services, %d real servers, %d lines, %d bytes\n", services, reals, services+reals, text.Len())

	start := time.Now()
	tab, err = ipvsadm.ParseFile(file)
	if err != nil {
		return err
	}
	fmt.Printf("parse: %s, peak RSS so far %d MiB\n", time.Since(start).Round(time.Millisecond), maxRSS(syscall.RUSAGE_SELF))

	// Each loader gets a lab of its own: a flushed table's real servers
	// wait in the kernel's destination trash, which every later add
	// searches (ip_vs_trash_get_dest), so a reload is slower than a load.
	ctx := context.Background()
	loaders := []struct {
		name string
		on   bool
		load func(d *harness.Director) error
	}{
		{"ipvsadm.Restore", true, func(d *harness.Director) error {
			err := ipvsadm.Restore(ctx, d, tab, ipvsadm.RestoreOptions{Progress: func(done, total int) {
				fmt.Fprintf(os.Stderr, "\rrestore: %d/%d", done, total)
			}})
			fmt.Fprintln(os.Stderr)
			return err
		}},
		{"ipvsadm -R", withIpvsadm, func(d *harness.Director) error {
			in, err := os.Open(file)
			if err != nil {
				return err
			}
			defer in.Close()
			_, err = ipvsadmIn(d, in, "-R")
			return err
		}},
		{"moby/ipvs (Director.AddService, AddReal)", withMoby, func(d *harness.Director) error {
			for _, s := range tab.Services {
				if err := d.AddService(s.Service); err != nil {
					return err
				}
				for _, r := range s.Reals {
					if err := d.AddReal(s.Service, r.Real); err != nil {
						return err
					}
				}
			}
			return nil
		}},
		{"ipvsadm.Restore after ipvsadm -C of the same table", reload, func(d *harness.Director) error {
			if err := ipvsadm.Restore(ctx, d, tab, ipvsadm.RestoreOptions{}); err != nil {
				return err
			}
			if _, err := ipvsadmIn(d, nil, "-C"); err != nil {
				return err
			}
			start := time.Now()
			defer func() { fmt.Printf("  (the reload alone: %s)\n", time.Since(start).Round(time.Millisecond)) }()
			return ipvsadm.Restore(ctx, d, tab, ipvsadm.RestoreOptions{})
		}},
	}
	for i, l := range loaders {
		if !l.on {
			continue
		}
		if err := inLab(ctx, fmt.Sprintf("rulesrestore%d", i), func(d *harness.Director) error {
			start := time.Now()
			if err := l.load(d); err != nil {
				return fmt.Errorf("%s: %w", l.name, err)
			}
			fmt.Printf("%s: %s; peak RSS: this process %d MiB, its children %d MiB\n", l.name, time.Since(start).Round(time.Millisecond),
				maxRSS(syscall.RUSAGE_SELF), maxRSS(syscall.RUSAGE_CHILDREN))
			return compare(d, tab, file)
		}); err != nil {
			return err
		}
	}
	return nil
}

// inLab runs fn on the director of a NAT lab of its own.
func inLab(ctx context.Context, name string, fn func(d *harness.Director) error) (err error) {
	lab, err := topology.Build(ctx, topology.Paper(topology.WithName(name), topology.WithMode(topology.ModeNAT)))
	if err != nil {
		return err
	}
	defer func() {
		if cerr := lab.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("close lab: %w", cerr))
		}
	}()
	d, err := harness.OpenDirector(lab)
	if err != nil {
		return err
	}
	defer d.Close()
	return fn(d)
}

// compare reads the director's table with ipvsadm -S -n and compares it
// with the table loaded.
func compare(d *harness.Director, want *ipvsadm.Table, file string) error {
	start := time.Now()
	out, err := ipvsadmIn(d, nil, "-S", "-n")
	if err != nil {
		return err
	}
	got, err := ipvsadm.Parse("ipvsadm -S -n", bytes.NewReader(out))
	if err != nil {
		return err
	}
	if diff := ipvsadm.Diff(want, got); len(diff) > 0 {
		if len(diff) > 10 {
			diff = append(diff[:10], fmt.Sprintf("… %d more", len(diff)-10))
		}
		return fmt.Errorf("ipvsadm -S -n differs from %s:\n%s", file, strings.Join(diff, "\n"))
	}
	fmt.Printf("  ipvsadm -S -n reads back equal (%d lines, %s)\n", bytes.Count(out, []byte("\n")), time.Since(start).Round(time.Millisecond))
	return nil
}

// ipvsadmIn runs ipvsadm inside the director's namespace.
func ipvsadmIn(d *harness.Director, stdin *os.File, args ...string) ([]byte, error) {
	var out []byte
	err := d.Node.Do(func() error {
		cmd := exec.Command("ipvsadm", args...)
		if stdin != nil {
			cmd.Stdin = stdin
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		var err error
		if out, err = cmd.Output(); err != nil {
			return fmt.Errorf("ipvsadm %s: %w: %s", strings.Join(args, " "), err, stderr.String())
		}
		return nil
	})
	return out, err
}

func maxRSS(who int) int64 {
	var ru syscall.Rusage
	syscall.Getrusage(who, &ru)
	return ru.Maxrss >> 10 // KiB on Linux
}
