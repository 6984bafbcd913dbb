//go:build linux

package harness

import (
	"context"
	"strings"
	"testing"

	"github.com/lvslab/lvslab/topology"
)

// noPair stands in for keepalived.Options, which this package cannot import.
type noPair struct{}

func (noPair) Save(string) error { return nil }
func (noPair) WaitMaster(context.Context, *topology.Lab) (*topology.Node, error) {
	return nil, nil
}

// Up refuses, before it builds anything, what cannot come up.
func TestUpOptionsCheckBeforeAnythingIsBuilt(t *testing.T) {
	plan := func(s *topology.Spec) *topology.Spec {
		t.Helper()
		p, err := topology.Plan(s)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	ha := plan(topology.PaperHA(topology.WithMode(topology.ModeNAT)))
	for _, c := range []struct {
		what string
		spec *topology.Spec
		o    UpOptions
		want string
	}{
		{"a pair in a lab of one director", plan(topology.Paper(topology.WithMode(topology.ModeNAT))),
			UpOptions{Pair: noPair{}, Supervise: true}, "a director pair needs an HA lab"},
		{"a pair without a virtual service", plan(topology.PaperHA()), UpOptions{Pair: noPair{}, Supervise: true}, "use nat, dr or tun"},
		{"a pair without the supervisor", ha, UpOptions{Pair: noPair{}}, "set Supervise"},
		{"a bad server", ha, UpOptions{Servers: ServerConfig{BodySize: -1}}, "body size -1"},
	} {
		err := c.o.Check(c.spec)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.what, err, c.want)
		}
		if _, err := Up(t.Context(), c.spec, c.o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Up with %s: %v, want %q before anything is built", c.what, err, c.want)
		}
	}
	if err := (UpOptions{Servers: DefaultServerConfig, Pair: noPair{}, Supervise: true}).Check(ha); err != nil {
		t.Errorf("a supervised pair in an HA NAT lab: %v", err)
	}
}
