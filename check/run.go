//go:build linux

package check

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/lvslab/lvslab/bench"
	"github.com/lvslab/lvslab/harness"
	"github.com/lvslab/lvslab/harness/ipvsadm"
	"github.com/lvslab/lvslab/harness/keepalived"
	"github.com/lvslab/lvslab/internal/proc"
	"github.com/lvslab/lvslab/topology"
)

// Groups of checks, in the order a run takes them.
const (
	GroupAcceptance = "acceptance"
	GroupAgreement  = "agreement"
	GroupElection   = "election"
	GroupTable      = "table"
	GroupReach      = "reach"
	GroupBalance    = "balance"
	GroupHealth     = "health"
	GroupTracking   = "tracking"
	GroupFailover   = "failover"
	GroupSync       = "sync"
	GroupDrain      = "drain"
)

// Groups lists every group of checks.
var Groups = []string{GroupAcceptance, GroupAgreement, GroupElection, GroupTable, GroupReach, GroupBalance,
	GroupHealth, GroupTracking, GroupFailover, GroupSync, GroupDrain}

// Options shape a run.
type Options struct {
	// Binary is the keepalived to run ("" for the one on PATH).
	Binary string
	// Only runs these groups (every group when empty); acceptance always
	// runs, since nothing else can without it.
	Only []string
	// Progress, if set, gets a line per step.
	Progress func(string)
	// Out, if set, is a folder that gets the run's evidence: keepalived's
	// events and each director's log.
	Out string
}

// env is a run in progress: the lab built from the design and what runs
// in it.
type env struct {
	ctx    context.Context
	b      *Bundle
	d      *Design
	o      Options
	lab    *topology.Lab
	report *Report
	late   *Lateness

	apps    map[string]*harness.App // by real-server node
	ipvs    map[string]*harness.Director
	daemons map[string]*keepalived.Daemon
	files   map[string]*LabFiles
	events  *keepalived.EventLog
	addrs   *addrLog
	marks   map[int][]target // fwmark → where the captured rules set it (marks_lab.go)
	// snapshot is a rules director's table once read (reach_every.go).
	snapshot []harness.ServiceState
	fifos    []*os.File
	// refused says keepalived cannot run a director's file: the checks
	// that need it running are not checked.
	refused string
}

// Run builds the lab of a design, runs the checks and returns the
// report. The lab and everything in it are gone when it returns,
// however it ends.
func Run(ctx context.Context, b *Bundle, d *Design, o Options) (_ *Report, err error) {
	start := time.Now()
	e := &env{ctx: ctx, b: b, d: d, o: o, late: &Lateness{}, apps: map[string]*harness.App{}, ipvs: map[string]*harness.Director{},
		daemons: map[string]*keepalived.Daemon{}, files: map[string]*LabFiles{}}
	e.report = &Report{Inputs: b.Inputs.describe(), Kernel: proc.KernelRelease(), Where: where(), Remap: b.Remap}
	for _, a := range d.Assumptions {
		a.Where = b.display(a.Where)
		e.report.Assumptions = append(e.report.Assumptions, a)
	}
	e.step("building the lab %s: %d nodes on %d segments", d.Spec.Name, len(d.Spec.Nodes), len(d.Spec.Segments))
	if e.lab, err = topology.Build(ctx, d.Spec); err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, e.close()) }()
	lateCtx, stopLate := context.WithCancel(ctx)
	defer stopLate()
	probe := e.lab.Client()
	go e.late.Measure(lateCtx, func() { probe.Netlink().LinkList() })
	if err := e.setUp(); err != nil {
		return nil, err
	}
	if len(b.Directors) > 0 {
		if err := e.keepalivedChecks(); err != nil {
			return nil, err
		}
	} else if err := e.rulesChecks(); err != nil {
		return nil, err
	}
	e.report.Lateness = bench.Seconds(e.late.Worst())
	e.report.Elapsed = bench.Seconds(time.Since(start))
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		e.report.PeakMemory = ru.Maxrss << 10 // KiB on Linux
	}
	for _, u := range d.Unbuilt {
		e.report.Assumptions = append(e.report.Assumptions, Assumption{ID: "-", Fact: "not built in the lab: " + u, Give: "--capture"})
	}
	return e.report, nil
}

func (e *env) step(format string, a ...any) {
	if e.o.Progress != nil {
		e.o.Progress(fmt.Sprintf(format, a...))
	}
}

// stepOf reports done of total items of a long step begun at start, with
// an estimate of the time left from the pace so far.
func (e *env) stepOf(what string, done, total int, start time.Time) {
	left := ""
	if done > 0 && done < total {
		left = fmt.Sprintf(", about %s left", (time.Since(start) * time.Duration(total-done) / time.Duration(done)).Round(time.Second))
	}
	e.step("%s: %d of %d%s", what, done, total, left)
}

// wants says whether the run checks a group.
func (e *env) wants(group string) bool {
	return group == GroupAcceptance || len(e.o.Only) == 0 || slices.Contains(e.o.Only, group)
}

// add records results, marking those that rest on an assumption.
func (e *env) add(results ...Result) {
	for _, r := range results {
		if r.Status == Pass && len(r.RestsOn) > 0 {
			r.Status = Assumed
		}
		r.Where = e.b.display(r.Where)
		e.report.Results = append(e.report.Results, r)
	}
}

// display names a file as the operator named it: the reader names an
// included file relative to the main file's folder.
func (b *Bundle) display(ps []Pos) []Pos {
	out := make([]Pos, len(ps))
	for i, p := range ps {
		out[i] = p
		if p.File == "" || filepath.IsAbs(p.File) {
			continue
		}
		for _, d := range b.Directors {
			if d.Conf != nil && slices.Contains(d.Conf.Files, p.File) {
				out[i].File = filepath.Join(filepath.Dir(d.Path), p.File)
				break
			}
		}
	}
	return out
}

// where says whether this runs on the host or inside lvslab's VM.
func where() string {
	if k := os.Getenv(whereEnv); k != "" {
		return "in lvslab's VM on " + k
	}
	return "on this host"
}

// describe lists the inputs for the report.
func (in Inputs) describe() []string {
	var out []string
	out = append(out, in.Keepalived...)
	for _, s := range []struct{ flag, v string }{{"--config-id", strings.Join(in.ConfigIDs, ",")}, {"--ipvs-rules", in.Rules},
		{"--capture", in.Capture}, {"--serve", in.Serve}, {"--root", in.Root}} {
		if s.v != "" {
			out = append(out, s.flag+" "+s.v)
		}
	}
	if in.Remap {
		out = append(out, "--remap")
	}
	return out
}

// setUp wires the real servers, starts their applications and opens
// IPVS in each director with the sysctls it was captured with.
func (e *env) setUp() error {
	e.loadMarks()
	for _, sp := range e.d.Servers {
		n := e.lab.Node(sp.Node)
		method := harness.MethodNAT
		if slices.Contains(sp.Methods, harness.MethodTUN) {
			method = harness.MethodTUN
		} else if slices.Contains(sp.Methods, harness.MethodDR) {
			method = harness.MethodDR
		}
		var vips []netip.Prefix
		for _, v := range append(slices.Clone(sp.VIPs), e.markedVIPs(sp)...) {
			vips = append(vips, netip.PrefixFrom(v, v.BitLen()))
		}
		if err := harness.WireRealServer(n, method, vips); err != nil {
			return err
		}
		if err := e.startApp(sp, n); err != nil {
			return err
		}
		if err := e.openMarkedPorts(sp, e.apps[sp.Node]); err != nil {
			return err
		}
	}
	for _, dn := range e.lab.Directors() {
		if err := e.openIPVS(dn); err != nil {
			return err
		}
	}
	return nil
}

// openIPVS opens IPVS in a director with the sysctls it was captured
// with: at the start, and again in a director's fresh namespace.
func (e *env) openIPVS(dn *topology.Node) error {
	dir, err := harness.OpenDirectorAt(dn)
	if err != nil {
		return err
	}
	e.ipvs[dn.Name] = dir
	if m := e.machine(dn.Name); m != nil {
		for _, k := range sortedKeys(m.Sysctls) {
			if strings.HasPrefix(k, "net.ipv4.vs.") {
				if err := dn.SetSysctl(k, m.Sysctls[k]); err != nil {
					// Once, though a rebooted director sets them again.
					if msg := fmt.Sprintf("%s: %s = %s (%v)", dn.Name, k, m.Sysctls[k], err); !slices.Contains(e.d.Unbuilt, msg) {
						e.d.Unbuilt = append(e.d.Unbuilt, msg)
					}
				}
			}
		}
	}
	return nil
}

func (e *env) machine(node string) *Machine {
	for _, d := range e.b.Directors {
		if d.Node == node {
			return d.Machine
		}
	}
	return nil
}

// startApp starts the operator's application on a real-server node:
// every port its services send to, answering as the serve file says.
func (e *env) startApp(sp *ServerPlan, n *topology.Node) error {
	name := sp.Addrs[0].String()
	if len(sp.Addrs) > 1 {
		name = "" // the address each connection came to
	}
	app := harness.NewApp(n, name, e.answer)
	e.apps[sp.Node] = app
	for _, l := range sp.Listen {
		if l.Port == 0 { // portless: a fwmark service's, opened by openMarkedPorts
			continue
		}
		port, ok := e.appPort(sp.Node, l.Protocol, l.Port)
		if !ok {
			continue
		}
		if err := app.Open(port); err != nil {
			return err
		}
	}
	return nil
}

// answer is the application's reply as the serve file gives it, 200 to
// every GET where it gives none.
func (e *env) answer(local netip.Addr, port uint16, path string) (int, string) {
	if entry, ok := e.b.Serve.For(local, port); ok {
		a := entry.Answer(path)
		return a.Status, a.Body
	}
	return harness.AnswerOK(local, port, path)
}

// probedByTLS says whether an SSL_GET checker probes the address and port.
func (e *env) probedByTLS(a netip.Addr, port uint16) bool {
	for _, d := range e.b.Directors {
		for _, vs := range d.Conf.VirtualServers {
			for _, rs := range vs.Reals {
				for _, c := range rs.Checkers {
					if c.Kind == "SSL_GET" && rs.Addr.Addr() == a && (rs.Addr.Port() == port || c.ConnectPort.Value == int(port)) {
						return true
					}
				}
			}
		}
	}
	return false
}

// close stops everything the run started, keeps its evidence, then
// removes the lab.
func (e *env) close() error {
	var errs []error
	for node, k := range e.daemons {
		errs = append(errs, k.Stop())
		if e.o.Out != "" {
			errs = append(errs, os.WriteFile(filepath.Join(e.o.Out, "keepalived-"+node+".log"), []byte(k.Log()), 0o644))
		}
	}
	for _, f := range e.fifos {
		f.Close()
	}
	e.addrs.close()
	if e.events != nil {
		errs = append(errs, e.events.Close())
	}
	for _, a := range e.apps {
		errs = append(errs, a.Stop())
	}
	for _, d := range e.ipvs {
		d.Close()
	}
	if e.lab != nil {
		errs = append(errs, e.lab.Close())
	}
	return errors.Join(errs...)
}

// keepalivedChecks runs keepalived on the operator's files: acceptance,
// agreement, then the checks that need it running.
func (e *env) keepalivedChecks() error {
	binary := e.o.Binary
	if binary == "" {
		var err error
		if binary, err = exec.LookPath("keepalived"); err != nil {
			return errors.New("keepalived is not installed: install it (apt-get install keepalived; ci/deps.sh does), or give --keepalived-binary")
		}
	}
	e.report.Keepalived = keepalivedVersion(binary)
	var err error
	events := ""
	if e.o.Out != "" {
		if err := os.MkdirAll(e.o.Out, 0o755); err != nil {
			return err
		}
		events = filepath.Join(e.o.Out, "events.jsonl")
		os.Remove(events)
	}
	if e.events, err = keepalived.NewEventLog(events); err != nil {
		return err
	}
	for _, dir := range e.b.Directors {
		dirPath := topology.StateFile(e.d.Spec.Name, "check-"+dir.Node)
		lf, changes, err := writeCopy(dir, dirPath, e.b.Inputs.RunNotify)
		if err != nil {
			return err
		}
		e.files[dir.Node] = lf
		e.report.Changes = append(e.report.Changes, changes...)
		e.step("keepalived -t on %s's copy, inside %s", dir.Name, dir.Node)
		t0 := time.Now()
		acc, err := testConfig(e.ctx, e.lab.Node(dir.Node), binary, dir, lf)
		if err != nil {
			return err
		}
		e.add(acceptanceResult(acc, time.Since(t0)))
		e.add(scriptPrograms(dir, e.report.Keepalived)...)
		if acc.CannotRun() {
			e.refused = fmt.Sprintf("keepalived cannot run %s's file (keepalived -t exit %d)", dir.Name, acc.Exit)
		}
	}
	if len(e.b.Directors) == 2 && e.wants(GroupAgreement) {
		e.add(agreement(e.b.Directors[0], e.b.Directors[1])...)
	} else if e.wants(GroupAgreement) {
		e.notChecked("one director: agreement compares the two files of a pair", GroupAgreement)
	}
	groups := []checkGroup{
		{GroupElection, e.election},
		{GroupTable, e.table},
		{GroupReach, e.reach},
		{GroupHealth, e.health},
		{GroupBalance, e.balance},
		{GroupDrain, e.drain},
		// These upset the pair: last, each leaving it at rest.
		{GroupTracking, e.tracking},
		{GroupFailover, e.failover},
		{GroupSync, e.syncCheck},
	}
	if e.refused != "" {
		for _, g := range groups {
			e.notChecked(e.refused, g.name)
		}
		return nil
	}
	if !slices.ContainsFunc(groups, func(g checkGroup) bool { return e.wants(g.name) }) {
		return nil // what was asked needs no keepalived running
	}
	if err := e.startDaemons(binary); err != nil {
		return err
	}
	if !e.wants(GroupElection) && len(e.instanceNames()) > 0 {
		// Every later group judges a pair at rest: its masters elected,
		// their VIPs up. The election's results are not asked for.
		e.step("waiting for the election")
		e.election()
	}
	for _, g := range groups {
		if !e.wants(g.name) {
			continue
		}
		e.step("checking %s", g.name)
		results := g.run()
		if len(results) == 0 {
			results = []Result{{ID: g.name, Group: g.name, Title: "every " + g.name + " check", Status: NotChecked,
				Reason: nothingToCheck(g.name)}}
		}
		e.add(results...)
		if err := e.ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// checkGroup is a group of checks as a run takes it.
type checkGroup struct {
	name string
	run  func() []Result
}

// nothingToCheck says why a group found nothing to check in the files.
func nothingToCheck(group string) string {
	switch group {
	case GroupElection, GroupFailover, GroupTracking:
		return "the file runs no vrrp_instance"
	case GroupTable, GroupReach, GroupBalance, GroupHealth, GroupDrain:
		return "the file has no virtual_server with a real server"
	}
	return "the file gives it nothing to check"
}

// notChecked records a group as not checked, with the reason.
func (e *env) notChecked(why string, groups ...string) {
	for _, g := range groups {
		if e.wants(g) {
			e.add(Result{ID: g, Group: g, Title: "every " + g + " check", Status: NotChecked, Reason: why})
		}
	}
}

// startDaemons starts keepalived in every director at once, as a pair
// booted together would, reading its events.
func (e *env) startDaemons(binary string) error {
	for _, dir := range e.b.Directors {
		lf := e.files[dir.Node]
		files := keepalived.FilesIn(lf.Dir, "keepalived")
		files.Conf = lf.Main
		k := &keepalived.Daemon{Node: e.lab.Node(dir.Node), Lab: e.d.Spec.Name, Role: "keepalived " + dir.Node, Files: files,
			Binary: binary, ConfigID: dir.ConfigID, Env: []string{"TMPDIR=" + lf.Dir},
			NoVRRP: len(dir.Conf.Instances) == 0, NoChecker: len(dir.Conf.VirtualServers) == 0}
		e.daemons[dir.Node] = k
		fifos, err := keepalived.ReadFifos(dir.Node, e.events, lf.VRRPFifo, lf.LVSFifo)
		e.fifos = append(e.fifos, fifos...)
		if err != nil {
			return err
		}
	}
	if err := e.watchAddrs(); err != nil {
		return err
	}
	e.step("starting keepalived in %s", strings.Join(e.directorNodes(), " and "))
	var daemons []*keepalived.Daemon
	for _, dir := range e.b.Directors {
		daemons = append(daemons, e.daemons[dir.Node])
	}
	return keepalived.StartAll(daemons...)
}

func (e *env) directorNodes() []string {
	var out []string
	for _, d := range e.b.Directors {
		out = append(out, d.Node)
	}
	return out
}

// keepalivedVersion is the first line keepalived -v prints.
func keepalivedVersion(binary string) string {
	out, _ := exec.Command(binary, "-v").CombinedOutput()
	return strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
}

// rulesChecks loads an ipvsadm rules file into the director and runs the
// checks that need no keepalived.
func (e *env) rulesChecks() error {
	dir := e.ipvs["director"]
	e.step("restoring %d services into the director", len(e.b.Rules.Services))
	t0 := time.Now()
	if err := ipvsadm.Restore(e.ctx, dir, e.b.Rules, ipvsadm.RestoreOptions{}); err != nil {
		e.add(Result{ID: "acceptance/restore", Group: GroupAcceptance, Title: "the kernel takes every rule", Status: Fail,
			Reason: err.Error(), Elapsed: bench.Seconds(time.Since(t0))})
		return nil
	}
	services, reals := e.b.Rules.Counts()
	e.add(Result{ID: "acceptance/restore", Group: GroupAcceptance, Title: "the kernel takes every rule", Status: Pass,
		Measured: fmt.Sprintf("%d services, %d real servers in %s", services, reals,
			time.Since(t0).Round(time.Millisecond)), Elapsed: bench.Seconds(time.Since(t0))})
	for _, g := range []struct {
		name string
		run  func() []Result
	}{
		{GroupTable, e.table},
		{GroupReach, e.reach},
		{GroupBalance, e.balance},
		{GroupDrain, e.drain},
	} {
		if !e.wants(g.name) {
			continue
		}
		e.step("checking %s", g.name)
		e.add(g.run()...)
		if err := e.ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// acceptanceResult is keepalived -t's verdict as a result.
func acceptanceResult(a *Acceptance, took time.Duration) Result {
	r := Result{ID: "acceptance/" + a.Director, Group: GroupAcceptance, Title: "keepalived -t, where the interfaces exist",
		Bound: "exit 0", Measured: fmt.Sprintf("exit %d, %d message(s)", a.Exit, len(a.Messages)), Elapsed: bench.Seconds(took)}
	var why []string
	for _, m := range a.Messages {
		why = append(why, fmt.Sprintf("%s%s", m.Text, at(m.Where)))
		r.Where = append(r.Where, m.Where...)
	}
	switch {
	case a.CannotRun():
		r.Status, r.Reason = Fail, "keepalived cannot run this file: "+strings.Join(why, "; ")
	case a.Exit == testSecurity:
		r.Status, r.Reason = Fail, "scripts run without enable_script_security: "+strings.Join(why, "; ")
	case a.Exit != testOK || len(a.Messages) > 0:
		r.Status, r.Reason = Fail, "keepalived runs it despite errors: "+strings.Join(why, "; ")
	default:
		r.Status = Pass
	}
	return r
}
