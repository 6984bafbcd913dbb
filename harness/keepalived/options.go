//go:build linux

package keepalived

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/lvslab/lvslab/harness"
)

// Options shape the pair Start runs. The zero value is the lab's default:
// VRRPv2, advert 1 s, priorities 150/100, both directors state BACKUP with
// preemption, HTTP_GET health checks with the lab's timing, rr, no sync
// daemon.
type Options struct {
	// Scheduler of the virtual service (rr when empty) and keepalived's
	// scheduler flags for it (e.g. "mh-port").
	Scheduler      string   `json:"scheduler"`
	SchedulerFlags []string `json:"scheduler_flags,omitempty"`
	// Priorities of director1 and director2: the higher one is the master
	// when both run (150 and 100 when zero).
	Priorities [2]int `json:"priorities"`
	// Version of VRRP: 2 (default) or 3. VRRPv2 rounds the advert interval
	// to whole seconds, so an interval below 1 s needs version 3.
	Version int           `json:"version"`
	Advert  time.Duration `json:"advert"`
	// NoPreempt keeps a restarted higher-priority director from taking
	// the VIP back from a live master (keepalived honours it only on an
	// instance configured state BACKUP, which both always are here).
	NoPreempt bool `json:"nopreempt,omitempty"`
	// Sync runs the IPVS sync daemon under keepalived (lvs_sync_daemon on
	// the back link, syncid = the front instance's VRID).
	Sync bool `json:"sync,omitempty"`
	// Check is each real server's health checker: HTTP_GET (default, a
	// 200 answer to GET /) or TCP_CHECK (a connection).
	Check string `json:"check"`
	// Inhibit sets a failed real server's weight to 0 instead of removing
	// it (inhibit_on_failure): its open connections carry on.
	Inhibit bool `json:"inhibit_on_failure,omitempty"`
	// Persistence makes the virtual service persistent for that long.
	Persistence time.Duration `json:"persistence,omitempty"`
	// Health is the checkers' timing.
	Health HealthTiming `json:"health"`
	// VRID is the front instance's virtual router id (51 when zero); the
	// back instance takes the next.
	VRID int `json:"vrid"`
	// Sysctls are extra net.ipv4.vs.* settings (by short name) for both
	// directors, set before keepalived starts: sloppy_tcp,
	// sync_refresh_period, …
	Sysctls map[string]string `json:"sysctls,omitempty"`
}

// HealthTiming is how keepalived's checkers probe a real server: every
// DelayLoop; a failure is retried Retry times DelayBeforeRetry apart, so a
// server goes down after Retry+1 failures in a row; a probe fails after
// ConnectTimeout; Warmup spreads the first probe at random (0: none).
type HealthTiming struct {
	DelayLoop        time.Duration `json:"delay_loop"`
	ConnectTimeout   time.Duration `json:"connect_timeout"`
	Retry            int           `json:"retry"`
	DelayBeforeRetry time.Duration `json:"delay_before_retry"`
	Warmup           time.Duration `json:"warmup"`
}

// LabHealth is the lab's checker timing: fast enough that a spec sees a
// server go down in seconds, with no random first probe.
var LabHealth = HealthTiming{DelayLoop: time.Second, ConnectTimeout: time.Second, Retry: 1, DelayBeforeRetry: time.Second}

// Defaults of a pair.
const (
	DefaultVRID     = 51
	DefaultPriority = 150
	BackupPriority  = 100
)

// withDefaults fills what was left zero and names what is wrong.
func (o Options) withDefaults() (Options, error) {
	if o.Scheduler == "" {
		o.Scheduler = "rr"
	}
	if o.Priorities == [2]int{} {
		o.Priorities = [2]int{DefaultPriority, BackupPriority}
	}
	if o.Version == 0 {
		o.Version = 2
	}
	if o.Advert == 0 {
		o.Advert = time.Second
	}
	if o.Check == "" {
		o.Check = "HTTP_GET"
	}
	if o.Health == (HealthTiming{}) {
		o.Health = LabHealth
	}
	if o.VRID == 0 {
		o.VRID = DefaultVRID
	}
	var errs []error
	for i, p := range o.Priorities {
		if p < 1 || p > 254 {
			errs = append(errs, fmt.Errorf("priority %d of director%d: use 1-254 (255 is the address owner's)", p, i+1))
		}
	}
	switch {
	case o.Version != 2 && o.Version != 3:
		errs = append(errs, fmt.Errorf("VRRP version %d: use 2 or 3", o.Version))
	case o.Version == 2 && (o.Advert < time.Second || o.Advert%time.Second != 0):
		errs = append(errs, fmt.Errorf("advert interval %s: VRRPv2 takes whole seconds; use version 3 for %s", o.Advert, o.Advert))
	case o.Advert < 10*time.Millisecond || o.Advert > 40*time.Second:
		errs = append(errs, fmt.Errorf("advert interval %s: use 10ms to 40s", o.Advert))
	}
	if o.Check != "HTTP_GET" && o.Check != "TCP_CHECK" {
		errs = append(errs, fmt.Errorf("health check %q: use HTTP_GET or TCP_CHECK", o.Check))
	}
	if o.VRID < 1 || o.VRID > 254 {
		errs = append(errs, fmt.Errorf("VRID %d: use 1-254 (the back instance takes the next)", o.VRID))
	}
	for _, k := range slices.Sorted(maps.Keys(o.Sysctls)) {
		errs = append(errs, harness.CheckIPVSSysctl(k))
	}
	return o, errors.Join(errs...)
}

// MasterDownInterval is how long a backup of that priority waits without
// adverts before it becomes master (RFC 3768 §6.1, RFC 5798 §6.1; the
// skew of VRRPv3 scales with the advert interval).
func (o Options) MasterDownInterval(priority int) time.Duration {
	o, _ = o.withDefaults()
	return 3*o.Advert + o.SkewTime(priority)
}

// SkewTime is (256 - priority)/256 s in VRRPv2 and that many advert
// intervals in VRRPv3: how long a backup waits after a priority-0 advert.
func (o Options) SkewTime(priority int) time.Duration {
	o, _ = o.withDefaults()
	unit := time.Second
	if o.Version == 3 {
		unit = o.Advert
	}
	return time.Duration(256-priority) * unit / 256
}
