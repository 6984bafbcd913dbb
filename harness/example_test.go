//go:build linux

package harness_test

import (
	"context"
	"log"
	"os"
	"time"

	"github.com/lvslab/lvslab/harness"
	"github.com/lvslab/lvslab/harness/capture"
	"github.com/lvslab/lvslab/loadgen"
	"github.com/lvslab/lvslab/topology"
)

// A paper lab with a real IPVS director in NAT mode, loaded through the
// VIP. It needs root and a kernel with ip_vs (on the host, or inside
// lvslab vm); the README shows this same code.
func Example() {
	ctx := context.Background()
	// Builds the namespaces, starts a real server in each real-server
	// node and a director serving the VIP: the lab wired for the mode,
	// TCP and UDP services with every real server, every cause of a
	// miswired lab named.
	lab, err := harness.Up(ctx, topology.Paper(topology.WithMode(topology.ModeNAT)), harness.UpOptions{
		Servers:  harness.DefaultServerConfig,
		Director: harness.DirectorOptions{Scheduler: "wrr"},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer lab.Close() // namespaces, links, processes, state: all gone

	vip, err := lab.IPVS.Service("tcp", false)
	if err != nil {
		log.Fatal(err)
	}
	if err := lab.IPVS.UpdateReal(vip, lab.IPVS.Real(lab.Node("rs1"), 2, false)); err != nil {
		log.Fatal(err)
	}

	load, err := loadgen.ForLab(lab.Topology(), "vip", false)
	if err != nil {
		log.Fatal(err)
	}
	load.Clients, load.Duration = 16, 10*time.Second
	res, err := loadgen.Run(ctx, load)
	if err != nil {
		log.Fatal(err)
	}
	res.WriteTable(os.Stdout)

	// Anything else runs inside a node: sockets opened in Do stay in the
	// director's namespace, and may be used from any goroutine.
	lab.Director().Do(func() error { return nil })
	lab.Server("rs3").Stop()                               // refuse connections
	lab.Node("rs4").SetLinkUp(topology.SegmentBack, false) // cut a link
	lab.Node("rs5").Impair(topology.SegmentBack, topology.Impairment{Delay: 20 * time.Millisecond, Loss: 1})

	// Packets of the director's links as pcapng until ctx ends.
	file, err := os.Create("director.pcapng")
	if err != nil {
		log.Fatal(err)
	}
	defer file.Close()
	targets, _ := capture.Targets(lab.Topology(), []string{"director"})
	w, _ := capture.NewWriter(file, capture.Interfaces(targets, capture.Options{}))
	capture.Run(ctx, targets, capture.Options{}, w)
	w.Close()
}
