//go:build linux

package harness_test

import (
	"context"
	"log"
	"os"
	"time"

	"github.com/lvslab/lvslab/harness"
	"github.com/lvslab/lvslab/loadgen"
	"github.com/lvslab/lvslab/topology"
)

// A paper lab with a real IPVS director in NAT mode, loaded through the
// VIP. It needs root and a kernel with ip_vs (on the host, or inside
// lvslab vm); the README shows this same code.
func Example() {
	ctx := context.Background()
	lab, err := harness.Start(ctx, topology.Paper(topology.WithMode(topology.ModeNAT)), harness.DefaultServerConfig)
	if err != nil {
		log.Fatal(err)
	}
	defer lab.Close() // namespaces, links, processes, state: all gone

	// Wires the lab for the mode, creates TCP and UDP services on the VIP
	// with every real server, and names every cause of a miswired lab.
	director, err := harness.StartDirector(lab.Lab, harness.DirectorOptions{Scheduler: "wrr"})
	if err != nil {
		log.Fatal(err)
	}
	defer director.Close()
	vip, err := director.Service("tcp", false)
	if err != nil {
		log.Fatal(err)
	}
	if err := director.UpdateReal(vip, director.Real(lab.Node("rs1"), 2, false)); err != nil {
		log.Fatal(err)
	}

	load, err := loadgen.ForLab(lab.Lab, "vip", false)
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
}
