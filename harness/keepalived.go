package harness

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/lvslab/lvslab/topology"
)

// A director pair runs the real keepalived (Debian's package, 2.2.7 here)
// in each director's namespace: VRRP moves the VIP, and on the back
// segment the floating address, to the master; its checkers keep the
// IPVS table of each director; with Sync it also runs the kernel's sync
// daemon, master on the VRRP master and backup on the other, swapped by
// keepalived itself on every transition (its ipvswrapper.c). keepalived,
// not lvslab, owns the daemon in such a lab: the kernel allows one master
// and one backup daemon per namespace, and only keepalived knows when to
// swap them; lvslab reads it (SyncDaemons) and drives it directly only in
// a lab without keepalived.
//
// Each keepalived runs with -n (no fork, so it is this process's child
// and can be reaped), -l -D (detailed log on its output, kept in the lab's
// state directory), -G (no syslog), -R (a child that dies is not respawned:
// a crash stays a crash) and pid files in the lab's state directory, so
// that two labs never share /run/keepalived.pid and nothing is written
// under /run/keepalived. It is started in a session of its own: its
// process group is exactly its processes, which Crash stops and kills in
// one call each.

// VRRP instance names of a pair: one per segment, in one sync group, so
// that the VIP and the floating gateway always move together.
const (
	InstanceFront = "VI_front"
	InstanceBack  = "VI_back"
	SyncGroup     = "VG_lvs"
)

// HAOptions shape the keepalived pair StartHA runs. The zero value is the
// lab's default: VRRPv2, advert 1 s, priorities 150/100, both directors
// state BACKUP with preemption, HTTP_GET health checks with the lab's
// timing, rr, no sync daemon.
type HAOptions struct {
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
func (o HAOptions) withDefaults() (HAOptions, error) {
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
		if !ipvsSysctls[k] {
			errs = append(errs, fmt.Errorf("IPVS sysctl %q is not one lvslab sets (see ipvs-sysctl.rst)", k))
		}
	}
	return o, errors.Join(errs...)
}

// MasterDownInterval is how long a backup of that priority waits without
// adverts before it becomes master (RFC 3768 §6.1, RFC 5798 §6.1; the
// skew of VRRPv3 scales with the advert interval).
func (o HAOptions) MasterDownInterval(priority int) time.Duration {
	o, _ = o.withDefaults()
	return 3*o.Advert + o.SkewTime(priority)
}

// SkewTime is (256 - priority)/256 s in VRRPv2 and that many advert
// intervals in VRRPv3: how long a backup waits after a priority-0 advert.
func (o HAOptions) SkewTime(priority int) time.Duration {
	o, _ = o.withDefaults()
	unit := time.Second
	if o.Version == 3 {
		unit = o.Advert
	}
	return time.Duration(256-priority) * unit / 256
}

// seconds writes a duration as keepalived's timers take it.
func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}

// keepalivedFiles are one director's files in the lab's state directory.
type keepalivedFiles struct {
	Conf, Log, PID, VRRPPID, CheckersPID, VRRPFifo, LVSFifo string
}

func filesOf(lab, director string) keepalivedFiles {
	f := func(suffix string) string { return topology.StateFile(lab, "keepalived-"+director+suffix) }
	return keepalivedFiles{Conf: f(".conf"), Log: f(".log"), PID: f(".pid"), VRRPPID: f("-vrrp.pid"),
		CheckersPID: f("-checkers.pid"), VRRPFifo: f("-vrrp.fifo"), LVSFifo: f("-lvs.fifo")}
}

// KeepalivedConfig writes keepalived.conf for one director of an HA lab:
// two VRRP instances in a sync group (the VIP on the front link, the
// floating gateway on the back link), the notify FIFOs, the sync daemon
// if asked, and the virtual service with every real server and its
// health check.
func KeepalivedConfig(spec *topology.Spec, director string, o HAOptions) (string, error) {
	o, err := o.withDefaults()
	if err != nil {
		return "", err
	}
	if !spec.IsHA() {
		return "", fmt.Errorf("lab %s has %d director(s): keepalived runs a pair (use topology.PaperHA or --topology paper-ha)", spec.Name, len(spec.ByRole(topology.RoleDirector)))
	}
	method, err := MethodOf(spec.Mode)
	if err != nil {
		return "", fmt.Errorf("lab %s: %w", spec.Name, err)
	}
	index := slices.IndexFunc(spec.ByRole(topology.RoleDirector), func(n topology.NodeSpec) bool { return n.Name == director })
	if index < 0 {
		return "", fmt.Errorf("lab %s has no director %s", spec.Name, director)
	}
	front, back := spec.FrontSegment(), spec.BackSegment()
	files := filesOf(spec.Name, director)
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	w("# keepalived for %s of lab %s (written by lvslab)", director, spec.Name)
	w("global_defs {")
	w("    router_id %s-%s", spec.Name, director)
	w("    vrrp_notify_fifo %s", files.VRRPFifo)
	w("    lvs_notify_fifo %s", files.LVSFifo)
	// After a split brain heals, the loser may hear the winner first and
	// step down without ever sending the advert that would make the winner
	// repeat its gratuitous ARP: the client then keeps sending to the
	// loser (keepalived issues #166, #1528). A master that re-announces the
	// VIP with every advert puts the client right within one.
	w("    vrrp_garp_master_refresh 1")
	if o.Sync {
		w("    lvs_sync_daemon %s %s id %d", back, InstanceFront, o.VRID)
	}
	w("}")
	w("")
	w("vrrp_sync_group %s {", SyncGroup)
	w("    group {\n        %s\n        %s\n    }", InstanceFront, InstanceBack)
	w("}")
	for i, inst := range []struct {
		name, link string
		addr       netip.Addr
	}{{InstanceFront, front, spec.VIP.IPv4}, {InstanceBack, back, spec.Floating}} {
		w("")
		w("vrrp_instance %s {", inst.name)
		w("    state BACKUP") // never MASTER: keepalived ignores nopreempt there
		w("    interface %s", inst.link)
		w("    virtual_router_id %d", o.VRID+i)
		w("    priority %d", o.Priorities[index])
		w("    version %d", o.Version)
		w("    advert_int %s", seconds(o.Advert))
		if o.NoPreempt {
			w("    nopreempt")
		}
		w("    virtual_ipaddress {\n        %s/32 dev %s\n    }", inst.addr, inst.link)
		w("}")
	}
	w("")
	w("virtual_server %s %d {", spec.VIP.IPv4, spec.VIP.Port)
	w("    protocol TCP")
	w("    lvs_sched %s", o.Scheduler)
	if len(o.SchedulerFlags) > 0 {
		w("    %s", strings.Join(o.SchedulerFlags, "\n    "))
	}
	w("    lvs_method %s", strings.ToUpper(string(method)))
	if o.Persistence > 0 {
		w("    persistence_timeout %d", int(o.Persistence.Seconds()))
	}
	h := o.Health
	w("    delay_loop %s", seconds(h.DelayLoop))
	if o.Inhibit {
		w("    inhibit_on_failure")
	}
	for _, rs := range spec.ByRole(topology.RoleRealServer) {
		w("    real_server %s %d {", rs.Addr(false), spec.VIP.Port)
		w("        weight 1")
		w("        %s {", o.Check)
		if o.Check == "HTTP_GET" {
			w("            url {\n                path /\n                status_code 200\n            }")
		}
		w("            connect_timeout %s", seconds(h.ConnectTimeout))
		w("            retry %d", h.Retry)
		w("            delay_before_retry %s", seconds(h.DelayBeforeRetry))
		w("            warmup %s", seconds(h.Warmup))
		w("            log_all_failures on")
		w("        }")
		w("    }")
	}
	w("}")
	return b.String(), nil
}

// HAEvent is one line keepalived wrote to a notify FIFO, with the time
// lvslab read it: a VRRP instance's or group's new state (Kind INSTANCE
// or GROUP, State MASTER, BACKUP, FAULT, STOP…) or a real server's or
// virtual service's health (Kind RS or VS, State UP or DOWN).
type HAEvent struct {
	At       time.Time `json:"at"`
	Director string    `json:"director"`
	Kind     string    `json:"kind"`
	// Name is the instance or group, "ip:port" of a real server, or
	// the virtual service.
	Name     string `json:"name"`
	State    string `json:"state"`
	Priority int    `json:"priority,omitempty"`
}

// parseEvent reads one FIFO line: INSTANCE "VI_front" MASTER 150,
// GROUP "VG_lvs" BACKUP 0, RS [192.0.2.11]:tcp:80 [203.0.113.10]:tcp:80 DOWN,
// VS [203.0.113.10]:tcp:80 UP.
func parseEvent(line string) (HAEvent, bool) {
	f := strings.Fields(line)
	if len(f) < 3 {
		return HAEvent{}, false
	}
	e := HAEvent{Kind: f[0]}
	switch f[0] {
	case "INSTANCE", "GROUP":
		if len(f) != 4 {
			return e, false
		}
		e.Name, e.State = strings.Trim(f[1], `"`), f[2]
		e.Priority, _ = strconv.Atoi(f[3])
	case "RS":
		if len(f) != 4 {
			return e, false
		}
		e.Name, e.State = keepalivedAddr(f[1]), f[3]
	case "VS":
		e.Name, e.State = keepalivedAddr(f[1]), f[2]
	default:
		return e, false
	}
	return e, true
}

// keepalivedAddr turns "[192.0.2.11]:tcp:80" into "192.0.2.11:80".
func keepalivedAddr(s string) string {
	host, rest, ok := strings.Cut(strings.TrimPrefix(s, "["), "]")
	if !ok {
		return s
	}
	parts := strings.Split(rest, ":")
	return net.JoinHostPort(host, parts[len(parts)-1])
}

// HA is a running director pair: keepalived in both directors of a lab.
type HA struct {
	Lab       *topology.Lab
	Options   HAOptions
	Directors []*HADirector

	mu      sync.Mutex
	events  []HAEvent
	changed chan struct{} // closed and replaced on every event
	log     *os.File
}

// HADirector is one director of a pair: its IPVS handle and its keepalived.
type HADirector struct {
	*Director
	ha       *HA
	Priority int
	files    keepalivedFiles
	fifos    []*os.File

	mu        sync.Mutex
	cmd       *exec.Cmd
	exited    chan struct{}
	startedAt time.Time
	// down is set from the instant keepalived is signalled to stop or
	// crash until it starts again.
	down atomic.Bool
}

// keepalivedRole begins the role each keepalived process is recorded with.
const keepalivedRole = "keepalived"

// EventsFile is where a pair's events go, one JSON object a line, in the
// lab's state directory: what lvslab status --ha shows.
const EventsFile = "keepalived-events.jsonl"

// StartHA prepares a pair (OpenHA) and starts keepalived in both
// directors at once, as a pair booted together would. It returns at once:
// the election takes a Master_Down_Interval (WaitMaster). On error nothing
// it started is left running.
func StartHA(lab *topology.Lab, o HAOptions) (_ *HA, err error) {
	ha, err := OpenHA(lab, o)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, ha.Close())
		}
	}()
	for _, d := range ha.Directors {
		if err := d.spawn(); err != nil {
			return nil, err
		}
	}
	for _, d := range ha.Directors {
		if err := d.awaitChildren(); err != nil {
			return nil, err
		}
	}
	return ha, nil
}

// OpenHA wires an HA lab for its mode, opens IPVS in both directors, sets
// each director's sysctls, writes and checks keepalived's configuration
// and opens the notify FIFOs, but starts no keepalived: Start each
// director in the order wanted (a master first, then its backup, is an
// election whose winner does not depend on how fast each started).
func OpenHA(lab *topology.Lab, o HAOptions) (_ *HA, err error) {
	if !lab.Spec.IsHA() {
		return nil, fmt.Errorf("lab %s has %d director(s): keepalived runs a pair (use topology.PaperHA or --topology paper-ha)", lab.Spec.Name, len(lab.Directors()))
	}
	if o, err = o.withDefaults(); err != nil {
		return nil, err
	}
	if _, err := MethodOf(lab.Spec.Mode); err != nil {
		return nil, fmt.Errorf("lab %s: %w", lab.Spec.Name, err)
	}
	if _, err := exec.LookPath("keepalived"); err != nil {
		return nil, errors.New("keepalived is not installed: install it (apt-get install keepalived; ci/deps.sh does)")
	}
	if err := Wire(lab, lab.Spec.Mode); err != nil {
		return nil, err
	}
	ha := &HA{Lab: lab, Options: o, changed: make(chan struct{})}
	defer func() {
		if err != nil {
			err = errors.Join(err, ha.Close())
		}
	}()
	if ha.log, err = os.OpenFile(topology.StateFile(lab.Spec.Name, EventsFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
		return ha, fmt.Errorf("open the events file: %w", err)
	}
	for i, n := range lab.Directors() {
		d := &HADirector{ha: ha, Priority: o.Priorities[i], files: filesOf(lab.Spec.Name, n.Name)}
		ha.Directors = append(ha.Directors, d)
		if err := d.open(n); err != nil {
			return ha, err
		}
		if err := d.openFifos(); err != nil {
			return ha, err
		}
	}
	if err := Verify(lab, lab.Spec.Mode); err != nil {
		return ha, fmt.Errorf("lab %s is not wired for %s:\n%w", lab.Spec.Name, lab.Spec.Mode, err)
	}
	for _, d := range ha.Directors {
		if err := d.writeConfig(); err != nil {
			return ha, err
		}
		if err := d.checkConfig(); err != nil {
			return ha, err
		}
	}
	return ha, nil
}

func (d *HADirector) writeConfig() error {
	conf, err := KeepalivedConfig(d.ha.Lab.Spec, d.Name(), d.ha.Options)
	if err != nil {
		return err
	}
	if err := os.WriteFile(d.files.Conf, []byte(conf), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", d.files.Conf, err)
	}
	return nil
}

// checkedConfigs are configurations keepalived -t accepted, by content:
// a configuration is checked once per process (each check forks keepalived).
var checkedConfigs sync.Map

// checkConfig has keepalived read the configuration (-t) inside the
// director, where its links exist, so that a mistake is named before
// anything runs.
func (d *HADirector) checkConfig() error {
	conf, err := os.ReadFile(d.files.Conf)
	if err != nil {
		return err
	}
	if _, ok := checkedConfigs.Load(string(conf)); ok {
		return nil
	}
	cmd := exec.Command("keepalived", "-t", "-f", d.files.Conf)
	var out []byte
	err = d.Node.Do(func() (err error) {
		out, err = cmd.CombinedOutput()
		return err
	})
	if err != nil {
		return fmt.Errorf("keepalived rejects %s (%v): %s", d.files.Conf, err, strings.TrimSpace(string(out)))
	}
	checkedConfigs.Store(string(conf), true)
	return nil
}

// open opens IPVS in the director's namespace and sets its sysctls.
func (d *HADirector) open(n *topology.Node) error {
	dir, err := OpenDirectorAt(n)
	if err != nil {
		return err
	}
	d.Director = dir
	method, _ := MethodOf(d.ha.Lab.Spec.Mode)
	d.Method, d.port = method, d.ha.Lab.Spec.VIP.Port
	d.VIP = []Service{{Protocol: "tcp", Addr: d.ha.Lab.Spec.VIP.IPv4, Port: d.port, Scheduler: d.ha.Options.Scheduler, Persistence: d.ha.Options.Persistence}}
	d.Sysctls = MethodSysctls(method)
	maps.Copy(d.Sysctls, d.ha.Options.Sysctls)
	for _, k := range slices.Sorted(maps.Keys(d.Sysctls)) {
		if err := d.SetSysctl(k, d.Sysctls[k]); err != nil {
			return err
		}
	}
	return nil
}

// Name is the director's node name.
func (d *HADirector) Name() string { return d.Node.Name }

// openFifos makes the notify FIFOs (keepalived opens existing ones
// without removing them when it stops) and reads them until Close.
func (d *HADirector) openFifos() error {
	for _, path := range []string{d.files.VRRPFifo, d.files.LVSFifo} {
		if err := unix.Mkfifo(path, 0o600); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("create notify FIFO %s: %w", path, err)
		}
		// Read-write, so that the FIFO never reads end-of-file while
		// keepalived restarts.
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("open notify FIFO %s: %w", path, err)
		}
		d.fifos = append(d.fifos, f)
		go d.readFifo(f)
	}
	return nil
}

func (d *HADirector) readFifo(f *os.File) {
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if e, ok := parseEvent(sc.Text()); ok {
			e.At, e.Director = time.Now(), d.Name()
			d.ha.record(e)
		}
	}
}

func (ha *HA) record(e HAEvent) {
	ha.mu.Lock()
	defer ha.mu.Unlock()
	ha.events = append(ha.events, e)
	if ha.log != nil {
		line, _ := json.Marshal(e)
		ha.log.Write(append(line, '\n'))
	}
	close(ha.changed)
	ha.changed = make(chan struct{})
}

// Events returns every event so far, in the order read.
func (ha *HA) Events() []HAEvent {
	ha.mu.Lock()
	defer ha.mu.Unlock()
	return slices.Clone(ha.events)
}

// WaitEvent waits for the first event at or after since that match
// accepts.
func (ha *HA) WaitEvent(ctx context.Context, since time.Time, match func(HAEvent) bool) (HAEvent, error) {
	for {
		ha.mu.Lock()
		for _, e := range ha.events {
			if !e.At.Before(since) && match(e) {
				ha.mu.Unlock()
				return e, nil
			}
		}
		changed := ha.changed
		ha.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return HAEvent{}, fmt.Errorf("waiting for a keepalived event: %w", ctx.Err())
		}
	}
}

// WaitState waits until keepalived reports the director's front
// instance in state (MASTER, BACKUP, FAULT…) at or after since.
func (d *HADirector) WaitState(ctx context.Context, state string, since time.Time) (HAEvent, error) {
	return d.ha.WaitEvent(ctx, since, func(e HAEvent) bool {
		return e.Director == d.Name() && e.Kind == "INSTANCE" && e.Name == InstanceFront && e.State == state
	})
}

// State is the last VRRP state keepalived reported for the director's
// front instance ("" before the first).
func (d *HADirector) State() string {
	d.ha.mu.Lock()
	defer d.ha.mu.Unlock()
	for i := len(d.ha.events) - 1; i >= 0; i-- {
		if e := d.ha.events[i]; e.Director == d.Name() && e.isFrontState() {
			return e.State
		}
	}
	return ""
}

// isFrontState says whether the event is a state of the front instance
// (keepalived also notifies events such as MASTER_RX_LOWER_PRI).
func (e HAEvent) isFrontState() bool {
	return e.Kind == "INSTANCE" && e.Name == InstanceFront && slices.Contains([]string{"MASTER", "BACKUP", "FAULT", "STOP"}, e.State)
}

// Start starts keepalived in the director (again, after Stop or Crash)
// and records its processes in the lab's state, so that removing the lab
// stops them even if this process dies.
func (d *HADirector) Start() error {
	if err := d.spawn(); err != nil {
		return err
	}
	return d.awaitChildren()
}

// spawn starts keepalived and records its parent process.
func (d *HADirector) spawn() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd != nil {
		return fmt.Errorf("keepalived already runs in %s", d.Name())
	}
	log, err := os.OpenFile(d.files.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open %s: %w", d.files.Log, err)
	}
	defer log.Close()
	for _, p := range []string{d.files.PID, d.files.VRRPPID, d.files.CheckersPID} {
		os.Remove(p) // a crashed keepalived's, which would stop a new one
	}
	cmd := exec.Command("keepalived", "-n", "-l", "-D", "-G", "-R", "-f", d.files.Conf,
		"-p", d.files.PID, "-r", d.files.VRRPPID, "-c", d.files.CheckersPID)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	topology.MarkCommand(cmd, d.ha.Lab.Spec.Name)
	// Forked from a thread inside the director's namespace: keepalived
	// lives there without entering it itself (its -s would also give it a
	// mount namespace and a directory under /run/keepalived).
	if err := d.Node.Do(cmd.Start); err != nil {
		return fmt.Errorf("start keepalived in %s: %w", d.Name(), err)
	}
	d.cmd, d.exited, d.startedAt = cmd, make(chan struct{}), time.Now()
	d.down.Store(false)
	exited := d.exited
	go func() {
		cmd.Wait()
		close(exited)
	}()
	if err := topology.RecordProcess(d.ha.Lab.Spec.Name, cmd.Process.Pid, keepalivedRole+" "+d.Name()); err != nil {
		cmd.Process.Kill()
		<-exited
		d.cmd = nil
		return err
	}
	return nil
}

// awaitChildren waits for keepalived's VRRP and checker children, which
// write their pid files once forked, and records them.
func (d *HADirector) awaitChildren() error {
	d.mu.Lock()
	exited := d.exited
	d.mu.Unlock()
	deadline := time.Now().Add(20 * time.Second)
	for _, p := range []string{d.files.VRRPPID, d.files.CheckersPID} {
		for {
			pid, err := readPID(p)
			if err == nil {
				topology.RecordProcess(d.ha.Lab.Spec.Name, pid, keepalivedRole+" "+d.Name())
				break
			}
			select {
			case <-exited:
				return fmt.Errorf("keepalived exited at start in %s (see %s): %s", d.Name(), d.files.Log, tail(d.files.Log, 5))
			case <-time.After(10 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("keepalived in %s wrote no %s within 20s (see %s)", d.Name(), filepath.Base(p), d.files.Log)
			}
		}
	}
	return nil
}

// StartedAt is when keepalived was last started in the director.
func (d *HADirector) StartedAt() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.startedAt
}

// Live says whether the director runs keepalived with its front link up:
// a director that could answer for the VIP.
func (d *HADirector) Live() bool {
	if d.down.Load() || !d.Running() {
		return false
	}
	l, err := d.Node.Netlink().LinkByName(d.ha.Lab.Spec.FrontSegment())
	return err == nil && l.Attrs().Flags&net.FlagUp != 0
}

// Running says whether keepalived runs in the director.
func (d *HADirector) Running() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cmd != nil
}

// Stop stops keepalived gracefully (SIGTERM to its parent, which stops its
// children): the master sends a priority-0 advert and gives up the VIP,
// and keepalived removes the virtual service it made. It waits for every
// keepalived process of the director to end.
func (d *HADirector) Stop() error {
	return d.signalAndWait(func(cmd *exec.Cmd) error { return cmd.Process.Signal(syscall.SIGTERM) }, 10*time.Second)
}

// signalAndWait sends a signal to the director's keepalived and waits,
// up to timeout, for its whole process group to end.
func (d *HADirector) signalAndWait(send func(*exec.Cmd) error, timeout time.Duration) (err error) {
	d.mu.Lock()
	cmd, exited := d.cmd, d.exited
	d.mu.Unlock()
	if cmd == nil {
		return nil
	}
	d.down.Store(true)
	defer func() {
		<-exited
		d.mu.Lock()
		d.cmd = nil
		d.mu.Unlock()
	}()
	pgid := cmd.Process.Pid
	if err := send(cmd); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal keepalived in %s: %w", d.Name(), err)
	}
	deadline := time.Now().Add(timeout)
	for len(groupMembers(pgid)) > 0 {
		if time.Now().After(deadline) {
			unix.Kill(-pgid, unix.SIGKILL)
			return fmt.Errorf("keepalived in %s did not stop within %s: killed", d.Name(), timeout)
		}
		select {
		case <-exited:
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

// Close stops keepalived in both directors (gracefully, then by force),
// stops reading the FIFOs and releases the IPVS handles. The lab's state
// directory, with the FIFOs, goes with the lab.
func (ha *HA) Close() error {
	errs := make([]error, len(ha.Directors))
	var wg sync.WaitGroup
	for i, d := range ha.Directors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = d.Stop()
		}()
	}
	wg.Wait()
	for _, d := range ha.Directors {
		for _, f := range d.fifos {
			f.Close()
		}
		d.fifos = nil
		if d.Director != nil {
			d.Director.Close()
		}
	}
	ha.mu.Lock()
	if ha.log != nil {
		ha.log.Close()
		ha.log = nil
	}
	ha.mu.Unlock()
	return errors.Join(errs...)
}

// Director returns the pair's director of that name, or nil.
func (ha *HA) Director(name string) *HADirector {
	for _, d := range ha.Directors {
		if d.Name() == name {
			return d
		}
	}
	return nil
}

// Peer is the other director of the pair.
func (ha *HA) Peer(d *HADirector) *HADirector {
	for _, o := range ha.Directors {
		if o != d {
			return o
		}
	}
	return nil
}

// HoldsVIP says whether the director has the VIP on its front link (a
// crashed director keeps it: the kernel does not know keepalived died).
func (d *HADirector) HoldsVIP() bool {
	return hasAddr(d.Node, d.ha.Lab.Spec.FrontSegment(), d.ha.Lab.Spec.VIP.IPv4)
}

// HoldsFloating says whether the director has the floating gateway on its
// back link.
func (d *HADirector) HoldsFloating() bool {
	return hasAddr(d.Node, d.ha.Lab.Spec.BackSegment(), d.ha.Lab.Spec.Floating)
}

// Holders are the directors that hold the VIP now.
func (ha *HA) Holders() []*HADirector {
	var out []*HADirector
	for _, d := range ha.Directors {
		if d.HoldsVIP() {
			out = append(out, d)
		}
	}
	return out
}

// WaitVIP waits until the director holds the VIP and returns the instant
// it got it (WatchVIP, received at once).
func (d *HADirector) WaitVIP(ctx context.Context) (time.Time, error) {
	got, err := d.WatchVIP(ctx)
	if err != nil {
		return time.Time{}, err
	}
	return got()
}

// WatchVIP starts watching the director's addresses and returns a
// function that waits for it to hold the VIP: the instant the kernel told
// of the new address (or, if it already held it, the instant the watch
// began). Arm it before a fault, so that how long the fault itself takes
// (a graceful stop waits for keepalived to end) never delays the reading.
// Watching ends when ctx does or the VIP is seen.
func (d *HADirector) WatchVIP(ctx context.Context) (func() (time.Time, error), error) {
	ns, err := netns.GetFromPath(d.Node.NsPath())
	if err != nil {
		return nil, fmt.Errorf("open namespace of %s: %w", d.Name(), err)
	}
	defer ns.Close()
	updates := make(chan netlink.AddrUpdate, 64)
	done := make(chan struct{})
	failed := make(chan error, 1)
	opts := netlink.AddrSubscribeOptions{Namespace: &ns, ListExisting: true, ErrorCallback: func(err error) {
		select {
		case failed <- err:
		default:
		}
	}}
	if err := netlink.AddrSubscribeWithOptions(updates, done, opts); err != nil {
		return nil, fmt.Errorf("watch the addresses of %s: %w", d.Name(), err)
	}
	vip := d.ha.Lab.Spec.VIP.IPv4
	type seen struct {
		at  time.Time
		err error
	}
	result := make(chan seen, 1)
	// Read at once, whenever the caller waits: the instant is when the
	// update arrived, not when someone looked.
	go func() {
		defer close(done)
		for {
			select {
			case u, ok := <-updates:
				if !ok {
					result <- seen{err: fmt.Errorf("watching the addresses of %s ended", d.Name())}
					return
				}
				if a, _ := netip.AddrFromSlice(u.LinkAddress.IP); u.NewAddr && a.Unmap() == vip {
					result <- seen{at: time.Now()}
					return
				}
			case err := <-failed:
				result <- seen{err: fmt.Errorf("watch the addresses of %s: %w", d.Name(), err)}
				return
			case <-ctx.Done():
				result <- seen{err: fmt.Errorf("%s did not take the VIP %s: %w (its log: %s)", d.Name(), vip, ctx.Err(), d.files.Log)}
				return
			}
		}
	}()
	return func() (time.Time, error) {
		r := <-result
		return r.at, r.err
	}, nil
}

// WaitMaster waits until exactly one director holds the VIP and returns it.
func (ha *HA) WaitMaster(ctx context.Context) (*HADirector, error) {
	for {
		if h := ha.Holders(); len(h) == 1 {
			return h[0], nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no single director took the VIP %s: %w", ha.Lab.Spec.VIP.IPv4, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// LogFile is the director's keepalived log (its -l -D output).
func (d *HADirector) LogFile() string { return d.files.Log }

// Log reads the director's keepalived log.
func (d *HADirector) Log() string {
	data, _ := os.ReadFile(d.files.Log)
	return string(data)
}

// FrontMAC is the hardware address of the director's front link: what the
// client's neighbour entry for the VIP must show when it is master.
func (d *HADirector) FrontMAC() (net.HardwareAddr, error) {
	l, err := d.Node.Netlink().LinkByName(d.ha.Lab.Spec.FrontSegment())
	if err != nil {
		return nil, fmt.Errorf("front link of %s: %w", d.Name(), err)
	}
	return l.Attrs().HardwareAddr, nil
}

// NeighbourOfVIP is the client's neighbour entry for the VIP: whose MAC
// the client sends the VIP's packets to, and the entry's state.
func (ha *HA) NeighbourOfVIP() (net.HardwareAddr, string, error) {
	c := ha.Lab.Client()
	l, err := c.Netlink().LinkByName(ha.Lab.Spec.FrontSegment())
	if err != nil {
		return nil, "", err
	}
	neighs, err := c.Netlink().NeighList(l.Attrs().Index, netlink.FAMILY_V4)
	if err != nil {
		return nil, "", fmt.Errorf("read the client's neighbours: %w", err)
	}
	for _, n := range neighs {
		if a, ok := netip.AddrFromSlice(n.IP); ok && a.Unmap() == ha.Lab.Spec.VIP.IPv4 {
			return n.HardwareAddr, neighState(n.State), nil
		}
	}
	return nil, "", nil
}

func neighState(s int) string {
	for bit, name := range map[int]string{netlink.NUD_INCOMPLETE: "INCOMPLETE", netlink.NUD_REACHABLE: "REACHABLE",
		netlink.NUD_STALE: "STALE", netlink.NUD_DELAY: "DELAY", netlink.NUD_PROBE: "PROBE", netlink.NUD_FAILED: "FAILED",
		netlink.NUD_PERMANENT: "PERMANENT", netlink.NUD_NOARP: "NOARP"} {
		if s&bit != 0 {
			return name
		}
	}
	return "NONE"
}

// readPID reads a pid file and checks the process lives.
func readPID(path string) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("%s holds no pid yet", path)
	}
	return pid, unix.Kill(pid, 0)
}

// groupMembers lists the live processes of a process group.
func groupMembers(pgid int) []int {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var out []int
	for _, p := range stats {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		s := string(data)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		// After the command: state, ppid, pgrp.
		f := strings.Fields(s[i+1:])
		if len(f) < 3 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		if g, _ := strconv.Atoi(f[2]); g == pgid {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			out = append(out, pid)
		}
	}
	return out
}

// tail is the last n lines of a file, for an error message.
func tail(path string, n int) string {
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], " | ")
}

// haOptionsFile in a lab's state directory asks its supervisor to run a
// keepalived pair with these options (lvslab up on an HA lab).
const haOptionsFile = "keepalived.json"

// SaveHAOptions records the pair a lab's supervisor must run; call it
// before StartSupervisor.
func SaveHAOptions(lab string, o HAOptions) error {
	if _, err := o.withDefaults(); err != nil {
		return err
	}
	data, err := json.MarshalIndent(o, "", "  ")
	if err != nil {
		return err
	}
	path := topology.StateFile(lab, haOptionsFile)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// readHAOptions reads what SaveHAOptions recorded; ok is false when the
// lab has no pair to run.
func readHAOptions(lab string) (o HAOptions, ok bool, err error) {
	data, err := os.ReadFile(topology.StateFile(lab, haOptionsFile))
	if errors.Is(err, os.ErrNotExist) {
		return o, false, nil
	}
	if err == nil {
		err = json.Unmarshal(data, &o)
	}
	if err != nil {
		return o, false, fmt.Errorf("read the keepalived options of lab %s: %w", lab, err)
	}
	return o, true, nil
}

// superviseHA runs the lab's pair, if it has one, until ctx ends; done is
// closed once keepalived stopped again. A pair that cannot start ends the
// supervisor (stop), its reason in the supervisor's log.
func superviseHA(ctx context.Context, t *topology.Lab, stop func()) (done <-chan struct{}, err error) {
	o, ok, err := readHAOptions(t.Spec.Name)
	finished := make(chan struct{})
	if err != nil || !ok {
		close(finished)
		return finished, err
	}
	go func() {
		defer close(finished)
		ha, err := StartHA(t, o)
		if err != nil {
			fmt.Fprintln(os.Stderr, "lvslab supervise: keepalived:", err)
			stop()
			return
		}
		<-ctx.Done()
		if err := ha.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "lvslab supervise: keepalived:", err)
		}
	}()
	return finished, nil
}

// PairStatus is what lvslab status --ha shows of a director pair: each
// director as keepalived and the kernel see it, and the last events.
type PairStatus struct {
	Lab       string           `json:"lab"`
	Options   *HAOptions       `json:"options,omitempty"`
	Directors []DirectorStatus `json:"directors"`
	Events    []HAEvent        `json:"events"`
}

// DirectorStatus is one director of a pair.
type DirectorStatus struct {
	Name string `json:"name"`
	// Keepalived lists its live processes (parent, VRRP and checker).
	Keepalived []int `json:"keepalived_pids"`
	// State is the last VRRP state keepalived reported for the front
	// instance; VIP and Floating say what the kernel holds.
	State    string         `json:"vrrp_state"`
	VIP      bool           `json:"holds_vip"`
	Floating bool           `json:"holds_floating"`
	Daemons  []SyncDaemon   `json:"sync_daemons"`
	IPVS     []ServiceState `json:"ipvs"`
	// Header is /proc/net/ip_vs's first line, for printing the table.
	Header string `json:"-"`
}

// ReadPair reads the state of a lab's director pair.
func ReadPair(t *topology.Lab) (*PairStatus, error) {
	if !t.Spec.IsHA() {
		return nil, fmt.Errorf("lab %s has %d director(s), not a pair (build one with --topology paper-ha)", t.Spec.Name, len(t.Directors()))
	}
	st := &PairStatus{Lab: t.Spec.Name}
	if o, ok, err := readHAOptions(t.Spec.Name); err == nil && ok {
		st.Options = &o
	}
	events, err := readEvents(t.Spec.Name)
	if err != nil {
		return nil, err
	}
	procs := topology.Processes(t.Spec.Name)
	for _, n := range t.Directors() {
		ds := DirectorStatus{Name: n.Name,
			VIP:      hasAddr(n, t.Spec.FrontSegment(), t.Spec.VIP.IPv4),
			Floating: hasAddr(n, t.Spec.BackSegment(), t.Spec.Floating)}
		for _, p := range procs {
			if p.Role == keepalivedRole+" "+n.Name {
				ds.Keepalived = append(ds.Keepalived, p.PID)
			}
		}
		slices.Sort(ds.Keepalived)
		for _, e := range events {
			if e.Director == n.Name && e.isFrontState() {
				ds.State = e.State
			}
		}
		d, err := OpenDirectorAt(n)
		if err != nil {
			return nil, err
		}
		ds.Daemons, err = d.SyncDaemons()
		if err == nil {
			ds.IPVS, err = d.Services()
		}
		d.Close()
		if err != nil {
			return nil, err
		}
		if ds.Header, err = IPVSHeader(n); err != nil {
			return nil, err
		}
		st.Directors = append(st.Directors, ds)
	}
	st.Events = events[max(0, len(events)-20):]
	return st, nil
}

// readEvents reads a lab's events file (none yet: no events).
func readEvents(lab string) ([]HAEvent, error) {
	f, err := os.Open(topology.StateFile(lab, EventsFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the keepalived events of lab %s: %w", lab, err)
	}
	defer f.Close()
	var out []HAEvent
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e HAEvent
		if json.Unmarshal(sc.Bytes(), &e) == nil {
			out = append(out, e)
		}
	}
	return out, sc.Err()
}
