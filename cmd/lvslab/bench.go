package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/lvslab/lvslab/harness"
	"github.com/lvslab/lvslab/loadgen"
	"github.com/lvslab/lvslab/topology"
)

func init() {
	register(&command{
		name:    "bench",
		summary: "Build the paper lab, sweep client counts in both connection modes against the real servers directly, and write a table and JSON.",
		usage:   "bench [--clients 1,4,16,64] [--conn new,keepalive] [--duration D] [--warmup W] [--out DIR]",
		root:    true,
		run:     runBench,
	})
}

// benchPoint is one measured point of a sweep.
type benchPoint struct {
	Target     string          `json:"target"`
	Connection string          `json:"connection"`
	Clients    int             `json:"clients"`
	Result     *loadgen.Result `json:"result"`
}

type benchReport struct {
	Started  time.Time         `json:"started"`
	Kernel   string            `json:"kernel"`
	CPUs     int               `json:"cpus"`
	Topology *topology.Spec    `json:"topology"`
	Duration string            `json:"duration_per_point"`
	Points   []benchPoint      `json:"points"`
	Env      map[string]string `json:"env"`
}

func runBench(ctx context.Context, fs *flag.FlagSet, args []string) error {
	clientsFlag := fs.String("clients", "1,4,16,64", "comma-separated client counts")
	connFlag := fs.String("conn", "new,keepalive", "connection modes: new (one TCP connection per request), keepalive")
	duration := fs.Duration("duration", 5*time.Second, "measured time per point")
	warmup := fs.Duration("warmup", time.Second, "unmeasured load before each point")
	out := fs.String("out", "results", "directory for the JSON")
	name := fs.String("name", "bench", "lab name")
	if err := parse(find("bench"), fs, args, false); err != nil {
		return err
	}
	clients, err := parseInts(*clientsFlag)
	if err != nil {
		return usageError{fmt.Errorf("--clients: %w", err)}
	}
	conns := strings.Split(*connFlag, ",")
	for _, c := range conns {
		if c != "new" && c != "keepalive" {
			return usageError{fmt.Errorf("--conn %q: use new, keepalive or both", c)}
		}
	}
	if *duration <= 0 || *duration > time.Hour || *warmup < 0 || *warmup > time.Hour {
		return usageError{errors.New("--duration must be in (0, 1h] and --warmup in [0, 1h]")}
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", *out, err)
	}
	lab, err := harness.Start(ctx, topology.Paper(topology.WithName(*name)), harness.DefaultServerConfig)
	if err != nil {
		return err
	}
	defer lab.Close()
	targets, err := loadgen.TargetsFor(lab.Spec, "direct", false)
	if err != nil {
		return err
	}
	report := benchReport{Started: time.Now().UTC(), Kernel: kernelRelease(), CPUs: runtime.NumCPU(),
		Topology: lab.Spec, Duration: duration.String(), Env: map[string]string{"version": version()}}
	progress := showProgress()
	total := len(clients) * len(conns)
	for _, conn := range conns {
		for _, c := range clients {
			if progress {
				fmt.Fprintf(os.Stderr, "\r\033[K[%d/%d] direct, %s connections, %d clients", len(report.Points)+1, total, conn, c)
			}
			cfg := loadgen.Config{Targets: targets, Sources: loadgen.SourcesFor(lab.Spec, false), Dial: lab.Client().Dial,
				Clients: c, KeepAlive: conn == "keepalive"}
			if *warmup > 0 {
				cfg.Duration = *warmup
				if _, err := loadgen.Run(ctx, cfg); err != nil {
					return err
				}
			}
			cfg.Duration = *duration
			res, err := loadgen.Run(ctx, cfg)
			if err != nil {
				return err
			}
			if res.Interrupted {
				return exitError{code: 130, msg: "interrupted"}
			}
			report.Points = append(report.Points, benchPoint{Target: "direct", Connection: conn, Clients: c, Result: res})
		}
	}
	if progress {
		fmt.Fprint(os.Stderr, "\r\033[K")
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\tconnection\tclients\trequests/s\tconn/s\tp50 ms\tp99 ms\terrors\tcores*\t")
	for _, p := range report.Points {
		r := p.Result
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.0f\t%.0f\t%.3f\t%.3f\t%d\t%.2f\t\n", p.Target, p.Connection, p.Clients,
			r.RequestsPerSec, r.ConnectionsPerSec, r.Latency.P50, r.Latency.P99, r.ErrorCount(), r.CPU.Cores)
	}
	tw.Flush()
	path := filepath.Join(*out, "bench-"+report.Started.Format("20060102-150405")+".json")
	data, _ := json.MarshalIndent(report, "", "  ")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	fmt.Println("* CPU of this process: the load generator and the real servers together")
	fmt.Printf("\nresults: %s\n", path)
	return nil
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > loadgen.MaxClients {
			return nil, fmt.Errorf("%q is not a client count (1-%d)", f, loadgen.MaxClients)
		}
		out = append(out, n)
	}
	return out, nil
}

func kernelRelease() string {
	data, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return strings.TrimSpace(string(data))
}
