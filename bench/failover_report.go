//go:build linux

package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"image/color"
	"io"
	"os"
	"path/filepath"
	"slices"
	"text/tabwriter"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// The files a failover benchmark writes into its output folder.
const (
	FailoverJSON = "failover.json"
	FailoverText = "failover.txt"
	FailoverSVG  = "failover.svg"
	FailoverPNG  = "failover.png"
)

// WriteFiles writes every output of a failover benchmark into dir.
func (r *FailoverResult) WriteFiles(dir string) error {
	return writeOutputs(dir, []output{{FailoverJSON, r.WriteJSON}, {FailoverText, r.WriteTable}}, r.SaveFigure, FailoverSVG, FailoverPNG)
}

// WriteJSON writes the whole result.
func (r *FailoverResult) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	return enc.Encode(r)
}

// ReadFailover reads a failover.json.
func ReadFailover(path string) (*FailoverResult, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r FailoverResult
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s is not an lvslab failover result: %w", path, err)
	}
	if len(r.Rounds) == 0 {
		return nil, fmt.Errorf("%s holds no rounds: give a failover.json written by lvslab failover", path)
	}
	r.Summary = SummariseFailover(&r)
	return &r, nil
}

// WriteTable writes the summary for people: per kind and sync setting,
// the takeover (median and maximum over n rounds) as keepalived, the
// kernel and the client saw it, the requests that failed and the
// long-lived connections that survived.
func (r *FailoverResult) WriteTable(w io.Writer) error {
	e, c := r.Env, r.Config
	kernel := e.Kernel
	if e.KernelName != "" {
		kernel += " (" + e.KernelName + ")"
	}
	fmt.Fprintf(w, "lvslab failover: %s mode, kernel %s, %d × %s, accelerator %s, lvslab %s\n", c.Mode, kernel, e.CPUs, e.CPUModel, e.Accel, e.Version)
	fmt.Fprintf(w, "open-loop load %.0f requests/s (one new connection each), %d long-lived connections per round, %d round(s) per kind and setting; VRRPv2, advert %gs, priorities 150/100, nopreempt, TCP_CHECK\n",
		c.Rate, c.Kept, c.Rounds, c.Advert.Seconds())
	fmt.Fprintf(w, "takeover in seconds after the fault: p50 / max (n rounds seen)\n\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "kind\tsync\tn\tVRRP notify\tVIP on new master\tclient's view\trequests failed\tconnections survived\t")
	stat := func(t TakeoverStat) string {
		if t.N == 0 {
			return "never"
		}
		return fmt.Sprintf("%.3f / %.3f (%d)", t.P50, t.Max, t.N)
	}
	for _, s := range r.Summary {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%d of %d\t%d of %d\t\n", s.Kind, onOff(s.Sync), s.N, stat(s.Notify), stat(s.VIP), stat(s.Client),
			s.Failed, s.Requests, s.Survived, s.Kept)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\nFiles: %s (every round, with requests/s per %gs), %s/%s (requests/s around the failovers).\n", FailoverJSON, c.Bin.Seconds(), FailoverSVG, FailoverPNG)
	return err
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// SaveFigure draws answered requests/s in 100 ms bins around the fault,
// one line per kind and sync setting (the mean of its rounds, bin by bin:
// a bin holds a few requests, and a median of such small counts jumps
// between their few values), with the offered rate as a dashed line. The extension picks the
// format (.svg, .png).
func (r *FailoverResult) SaveFigure(path string) error {
	c := r.Config
	p := plot.New()
	p.Title.Text = fmt.Sprintf("lvslab failover: %s mode, %.0f req/s offered, kernel %s (%s)", c.Mode, c.Rate, r.Env.Kernel, r.Env.Accel)
	p.X.Label.Text = "seconds since the fault"
	p.Y.Label.Text = fmt.Sprintf("answered requests/s per %.0f ms (mean of rounds)", c.Bin.Seconds()*1000)
	p.Y.Min = 0
	p.Add(plotter.NewGrid())
	p.Legend.Top = false
	for i, s := range r.Summary {
		var per [][]float64
		for _, rd := range r.Rounds {
			if rd.Kind == s.Kind && rd.Sync == s.Sync {
				per = append(per, rd.PerBin)
			}
		}
		if len(per) == 0 {
			continue
		}
		var pts plotter.XYs
		for b := range per[0] {
			var v []float64
			for _, bins := range per {
				if b < len(bins) {
					v = append(v, bins[b])
				}
			}
			// A bin's requests were answered during it: plot at its middle.
			pts = append(pts, plotter.XY{X: -c.Before.Seconds() + (float64(b)+0.5)*c.Bin.Seconds(), Y: stat.Mean(v, nil)})
		}
		line, err := plotter.NewLine(pts)
		if err != nil {
			return fmt.Errorf("figure: %w", err)
		}
		line.Color = plotutil.Color(i)
		line.Dashes = plotutil.Dashes(i / len(c.Kinds))
		line.Width = vg.Points(1.5)
		p.Add(line)
		p.Legend.Add(fmt.Sprintf("%s, sync %s", s.Kind, onOff(s.Sync)), line)
	}
	offered, err := plotter.NewLine(plotter.XYs{{X: -c.Before.Seconds(), Y: c.Rate}, {X: c.After.Seconds(), Y: c.Rate}})
	if err != nil {
		return fmt.Errorf("figure: %w", err)
	}
	offered.Color, offered.Dashes = color.Gray{Y: 128}, []vg.Length{vg.Points(2), vg.Points(2)}
	top := c.Rate * 1.3
	for _, rd := range r.Rounds {
		top = max(top, slices.Max(append([]float64{0}, rd.PerBin...)))
	}
	fault, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: 0, Y: top}})
	if err != nil {
		return fmt.Errorf("figure: %w", err)
	}
	fault.Color = color.Black
	p.Add(offered, fault)
	p.Legend.Add("offered", offered)
	p.Legend.Add("fault", fault)
	p.Legend.Left = true                    // bottom left: before the fault every line runs at the top
	p.Y.Max = max(c.Rate*1.3, p.Y.Max*1.05) // the answers a retransmission brought show as a spike
	if err := p.Save(8*vg.Inch, 5*vg.Inch, path); err != nil {
		return fmt.Errorf("save figure %s: %w", path, err)
	}
	return nil
}

// RunFailoverInVM runs a failover benchmark in a VM (in real time: VRRP's
// timers are what is measured), as RunInVM does a benchmark.
func RunFailoverInVM(ctx context.Context, cfg FailoverConfig, out string, o VMOptions) (*FailoverResult, error) {
	os.Remove(filepath.Join(out, FailoverJSON))
	env, err := runGuest(ctx, cfg, out, o, guestHooks{})
	if err != nil {
		return nil, err
	}
	r, err := ReadFailover(filepath.Join(out, FailoverJSON))
	if err != nil {
		return nil, fmt.Errorf("the VM wrote no result: %w", err)
	}
	env.hostOnly(&r.Env)
	return r, r.WriteFiles(out)
}

// ReadFailoverConfig reads the configuration RunFailoverInVM wrote, and
// validates it.
func ReadFailoverConfig(path string) (FailoverConfig, error) {
	var c FailoverConfig
	data, err := os.ReadFile(path)
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return c, fmt.Errorf("%s is not a failover configuration: %w", path, err)
	}
	return c, c.Validate()
}
