//go:build linux

package harness

import (
	"fmt"
	"net/http"
	"time"
)

// Faults a real server can suffer, each with its recovery (a director
// pair's are package keepalived's). A fault returns the instant it was in
// place.

// ServerFault is what can go wrong with a real server while its node is
// fine.
type ServerFault string

const (
	// FaultRefused: the server process is gone; its port refuses.
	FaultRefused ServerFault = "refused"
	// FaultBlackhole: the port drops every packet (nftables), as a hung
	// host or a firewall does; a connect times out.
	FaultBlackhole ServerFault = "blackhole"
	// FaultSlow: the server accepts, but answers only after SlowDelay.
	FaultSlow ServerFault = "slow"
	// Fault503: the server answers every request with 503.
	Fault503 ServerFault = "503"
)

// ServerFaults lists the real-server faults.
var ServerFaults = []ServerFault{FaultRefused, FaultBlackhole, FaultSlow, Fault503}

// SlowDelay is how long a slowed server takes per request: longer than
// the lab's checker timeout, so the checker gives up on it.
const SlowDelay = 3 * time.Second

// blackholeTable is the inet-family table of a black-holed server.
const blackholeTable = "lvslab_blackhole"

// InjectFault makes one real server fail in that way and returns the
// instant the fault was in place; ClearFault recovers it.
func (s *RealServer) InjectFault(f ServerFault) (time.Time, error) {
	var err error
	switch f {
	case FaultRefused:
		err = s.Stop()
	case FaultBlackhole:
		err = Nft(s.Node, fmt.Sprintf("table inet %s {\n chain input {\n  type filter hook input priority 0; policy accept;\n  tcp dport %d drop\n }\n}\n", blackholeTable, s.port))
	case FaultSlow:
		s.Degrade(0, SlowDelay)
	case Fault503:
		s.Degrade(http.StatusServiceUnavailable, 0)
	default:
		err = fmt.Errorf("real-server fault %q: use refused, blackhole, slow or 503", f)
	}
	return time.Now(), err
}

// ClearFault recovers a real server from a fault InjectFault caused, and
// returns the instant it was healthy again. Clearing a fault already
// cleared does nothing, so that a spec may clear it and still leave the
// clearing to its cleanup.
func (s *RealServer) ClearFault(f ServerFault) (time.Time, error) {
	var err error
	switch f {
	case FaultRefused:
		err = s.Start()
	case FaultBlackhole:
		// Declaring the table first makes the delete succeed when it is gone.
		err = Nft(s.Node, "table inet "+blackholeTable+"\ndelete table inet "+blackholeTable+"\n")
	case FaultSlow, Fault503:
		s.Degrade(0, 0)
	default:
		err = fmt.Errorf("real-server fault %q: use refused, blackhole, slow or 503", f)
	}
	return time.Now(), err
}
