//go:build linux

// Command rules-table writes a synthetic IPVS rules file (ipvsadm -S -n
// format) shaped like kube-proxy's table, by default the size of a large
// Kubernetes cluster's (ipvsadm.KubernetesScale): what lvslab check
// --ipvs-rules is measured on at scale, generated when needed rather than
// committed.
//
//	go run ./experiments/rules-table -o /tmp/k8s.rules
//	sudo bin/lvslab check --ipvs-rules /tmp/k8s.rules --where vm
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"

	"github.com/lvslab/lvslab/harness/ipvsadm"
)

func main() {
	c := ipvsadm.KubernetesScale
	c.RegisterFlags(flag.CommandLine)
	out := flag.String("o", "", "`file` to write (required)")
	flag.Parse()
	if err := run(c, *out); err != nil {
		fmt.Fprintln(os.Stderr, "rules-table:", err)
		os.Exit(1)
	}
}

func run(c ipvsadm.SyntheticConfig, out string) error {
	if out == "" {
		return fmt.Errorf("give -o FILE")
	}
	tab, err := ipvsadm.Synthetic(c)
	if err != nil {
		return err
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	if err := ipvsadm.Write(w, tab); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	services, reals := tab.Counts()
	fmt.Fprintf(os.Stderr, "wrote %s: %d services, %d real servers on %d pod addresses\n", out, services, reals, c.Pods)
	return f.Close()
}
