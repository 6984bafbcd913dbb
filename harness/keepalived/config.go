//go:build linux

package keepalived

import (
	_ "embed"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/lvslab/lvslab/harness"
	"github.com/lvslab/lvslab/topology"
)

// VRRP instance names of a pair: one per segment, in one sync group, so
// that the VIP and the floating gateway always move together.
const (
	InstanceFront = "VI_front"
	InstanceBack  = "VI_back"
	SyncGroup     = "VG_lvs"
)

//go:embed keepalived.conf.tmpl
var configText string

var configTemplate = template.Must(template.New("keepalived.conf").Parse(configText))

// configData is what keepalived.conf.tmpl fills in: every value already
// written as keepalived reads it.
type configData struct {
	Lab, Director     string
	VRRPFifo, LVSFifo string
	Sync              bool
	SyncLink          string
	SyncInstance      string
	SyncGroup         string
	VRID              int
	Instances         []configInstance
	Priority, Version int
	Advert            string
	NoPreempt         bool
	VIP               netip.Addr
	Port              uint16
	Scheduler         string
	SchedulerFlags    []string
	Method            string
	// Persistence is persistence_timeout in seconds, "" for none.
	Persistence string
	DelayLoop   string
	Inhibit     bool
	RealServers []netip.Addr
	Check       string
	// The checkers' timing.
	ConnectTimeout, DelayBeforeRetry, Warmup string
	Retry                                    int
}

// configInstance is one VRRP instance: its address on its link.
type configInstance struct {
	Name, Link string
	VRID       int
	Addr       netip.Addr
}

// GenerateConfig writes keepalived.conf for one director of an HA lab
// (keepalived.conf.tmpl says what is in it).
func GenerateConfig(spec *topology.Spec, director string, o Options) (string, error) {
	o, err := o.withDefaults()
	if err != nil {
		return "", err
	}
	if !spec.IsHA() {
		return "", fmt.Errorf("lab %s has %d director(s): keepalived runs a pair (use topology.PaperHA or --topology paper-ha)", spec.Name, len(spec.ByRole(topology.RoleDirector)))
	}
	method, err := harness.MethodOf(spec.Mode)
	if err != nil {
		return "", fmt.Errorf("lab %s: %w", spec.Name, err)
	}
	index := slices.IndexFunc(spec.ByRole(topology.RoleDirector), func(n topology.NodeSpec) bool { return n.Name == director })
	if index < 0 {
		return "", fmt.Errorf("lab %s has no director %s", spec.Name, director)
	}
	front, back := spec.FrontSegment(), spec.BackSegment()
	files := filesOf(spec.Name, director)
	h := o.Health
	data := configData{
		Lab: spec.Name, Director: director, VRRPFifo: files.VRRPFifo, LVSFifo: files.LVSFifo,
		Sync: o.Sync, SyncLink: back, SyncInstance: InstanceFront, SyncGroup: SyncGroup, VRID: o.VRID,
		Instances: []configInstance{
			{Name: InstanceFront, Link: front, VRID: o.VRID, Addr: spec.VIP.IPv4},
			{Name: InstanceBack, Link: back, VRID: o.VRID + 1, Addr: spec.Floating},
		},
		Priority: o.Priorities[index], Version: o.Version, Advert: seconds(o.Advert), NoPreempt: o.NoPreempt,
		VIP: spec.VIP.IPv4, Port: spec.VIP.Port, Scheduler: o.Scheduler, SchedulerFlags: o.SchedulerFlags,
		Method: strings.ToUpper(string(method)), DelayLoop: seconds(h.DelayLoop), Inhibit: o.Inhibit, Check: o.Check,
		ConnectTimeout: seconds(h.ConnectTimeout), Retry: h.Retry, DelayBeforeRetry: seconds(h.DelayBeforeRetry), Warmup: seconds(h.Warmup),
	}
	if o.Persistence > 0 {
		data.Persistence = strconv.Itoa(int(o.Persistence.Seconds()))
	}
	for _, rs := range spec.ByRole(topology.RoleRealServer) {
		data.RealServers = append(data.RealServers, rs.Addr(false))
	}
	var b strings.Builder
	if err := configTemplate.Execute(&b, data); err != nil {
		return "", fmt.Errorf("write keepalived.conf for %s of lab %s: %w", director, spec.Name, err)
	}
	return b.String(), nil
}

// seconds writes a duration as keepalived's timers take it.
func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}
