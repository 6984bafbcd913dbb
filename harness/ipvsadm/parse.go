//go:build linux

package ipvsadm

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/lvslab/lvslab/harness"
)

// Defaults and bounds as ipvsadm applies them (ipvsadm.c, libipvs.h).
const (
	DefaultScheduler   = "wlc"
	DefaultPersistence = 300 * time.Second
	DefaultWeight      = 1
	maxTimeout         = 86400 * 31 // MAX_TIMEOUT, seconds
	maxWeight          = 65535
	maxNameLen         = 15 // IP_VS_SCHEDNAME_MAXLEN and IP_VS_PENAME_MAXLEN, less the NUL
)

// Scheduler flags (include/uapi/linux/ip_vs.h, IP_VS_SVC_F_SCHED1..3); sh
// and mh call the first two fallback and port.
const (
	FlagSched1 = 0x08
	FlagSched2 = 0x10
	FlagSched3 = 0x20
)

// A file's limits: a longer line or more errors than this is not a rules
// file worth reading on.
const (
	maxLine   = 64 << 10
	maxErrors = 20
)

// LineError is a bad line of a rules file, or a rule the kernel refused:
// where, what is wrong and what to do.
type LineError struct {
	File string
	Line int
	Msg  string
	// Err is the kernel's error, for a rule it refused.
	Err error
}

func (e *LineError) Error() string {
	s := fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *LineError) Unwrap() error { return e.Err }

// ParseFile reads a rules file (see Parse).
func ParseFile(path string) (*Table, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open IPVS rules: %w", err)
	}
	defer f.Close()
	return Parse(path, f)
}

// Parse reads IPVS rules in ipvsadm's format, as "ipvsadm -S -n" writes
// them and "ipvsadm -R" reads them, into a table; name is what errors
// call the input. Blank lines, lines starting with # (ipvsadm-restore
// drops those) and a leading "ipvsadm" word are skipped. It returns every
// bad line (up to 20) as a *LineError, joined, and no table.
func Parse(name string, r io.Reader) (*Table, error) {
	p := &parser{t: NewTable(name), broken: map[ServiceKey]bool{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	for sc.Scan() {
		p.line++
		if err := p.parseLine(sc.Text()); err != nil {
			p.errs = append(p.errs, &LineError{File: name, Line: p.line, Msg: err.Error()})
			if len(p.errs) == maxErrors {
				p.errs = append(p.errs, fmt.Errorf("%s: stopped reading after %d bad lines", name, maxErrors))
				break
			}
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			err = fmt.Errorf("a line longer than %d KiB: is this an ipvsadm rules file (ipvsadm -S -n)?", maxLine>>10)
		}
		p.errs = append(p.errs, &LineError{File: name, Line: p.line + 1, Msg: err.Error()})
	}
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	return p.t, nil
}

type parser struct {
	t    *Table
	line int
	errs []error
	// broken are services whose -A line was bad: their later lines are
	// not reported again.
	broken map[ServiceKey]bool
}

func (p *parser) finding(format string, args ...any) {
	p.t.Findings = append(p.t.Findings, Finding{Line: p.line, Text: fmt.Sprintf(format, args...)})
}

// fields splits a line where ipvsadm's config_stream.c does: at spaces,
// tabs and carriage returns.
func fields(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '\t' || r == '\r' })
}

func (p *parser) parseLine(text string) error {
	toks := fields(text)
	if len(toks) == 0 || strings.HasPrefix(toks[0], "#") {
		return nil
	}
	if toks[0] == "ipvsadm" {
		toks = toks[1:]
		if len(toks) == 0 {
			return nil
		}
	}
	for _, t := range toks {
		if strings.HasPrefix(t, "#") {
			return errors.New("a comment after a rule: ipvsadm -R reads # there as an argument; put the comment on a line of its own")
		}
	}
	w, err := splitOptions(toks)
	if err != nil {
		return err
	}
	if len(w.opts) == 0 {
		return fmt.Errorf("no command in %s: a rule starts with -A, -E, -D, -a, -e, -d, -C or --set", quote(text))
	}
	cmd := w.opts[0]
	if cmd.spec.group != groupCommand {
		return fmt.Errorf("the rule starts with %s, not a command: start it with -A (add service), -a (add real server) or another command, as ipvsadm requires", cmd.as)
	}
	rule, ok := commandRules[cmd.spec.id]
	if !ok {
		return fmt.Errorf("%s is not a rule (it %s): remove the line", cmd.as, notRules[cmd.spec.id])
	}
	if err := checkOptions(cmd, rule, w); err != nil {
		return err
	}
	if cmd.spec.id == cmdSet {
		return p.setTimeouts(w.args)
	}
	if len(w.args) > 0 {
		return fmt.Errorf("unexpected argument %s: every value follows its option (-t ADDR:PORT, -w WEIGHT, …)", quote(w.args[0]))
	}
	return rule.apply(p, cmd, w)
}

// commandRule is what a command takes (ipvsadm.c, commands_v_options) and
// what it does to the table.
type commandRule struct {
	what  string
	need  []string // groups or long names of options it must have
	allow []optID
	apply func(p *parser, cmd use, w words) error
}

// allowed is each command's options as a set.
var allowed = map[optID]map[optID]bool{}

func init() {
	for cmd, r := range commandRules {
		allowed[cmd] = map[optID]bool{}
		for _, id := range r.allow {
			allowed[cmd][id] = true
		}
	}
}

var (
	serviceOpts  = []optID{optTCP, optUDP, optSCTP, optFWMark, optIPv6}
	settingsOpts = []optID{optScheduler, optPersistent, optNetmask, optOps, optPE, optSchedFlags}
	realOpts     = []optID{optMasq, optIPIP, optGatewaying, optWeight, optUThreshold, optLThreshold,
		optTunType, optTunPort, optTunNoCsum, optTunCsum, optTunRemCsum}
	daemonOpts = []optID{optMcastInterface, optSyncID, optMcastGroup, optMcastPort, optMcastTTL, optSyncMaxlen}
)

var commandRules = map[optID]commandRule{
	cmdAddService:  {"add service", []string{groupService}, append(append([]optID{}, serviceOpts...), settingsOpts...), (*parser).addService},
	cmdEditService: {"edit service", []string{groupService}, append(append([]optID{}, serviceOpts...), settingsOpts...), (*parser).editService},
	cmdDelService:  {"delete service", []string{groupService}, serviceOpts, (*parser).delService},
	cmdAddServer:   {"add real server", []string{groupService, "real-server"}, append(append([]optID{optRealServer}, serviceOpts...), realOpts...), (*parser).addReal},
	cmdEditServer:  {"edit real server", []string{groupService, "real-server"}, append(append([]optID{optRealServer}, serviceOpts...), realOpts...), (*parser).editReal},
	cmdDelServer:   {"delete real server", []string{groupService, "real-server"}, append([]optID{optRealServer}, serviceOpts...), (*parser).delReal},
	cmdClear:       {"clear the table", nil, nil, (*parser).clear},
	cmdSet:         {"set connection timeouts", nil, nil, nil},
	cmdZero:        {"zero counters", nil, serviceOpts, (*parser).zero},
	cmdStartDaemon: {"start a sync daemon", nil, daemonOpts, (*parser).daemon},
	cmdStopDaemon:  {"stop a sync daemon", nil, []optID{optSyncID}, (*parser).daemon},
}

var notRules = map[optID]string{
	cmdList: "lists the table", cmdHelp: "prints help", cmdVersion: "prints the version",
	cmdRestore: "reads rules from stdin", cmdSave: "prints the table",
}

func checkOptions(cmd use, rule commandRule, w words) error {
	// A line has a handful of options: a slice beats a map.
	type groupUse struct {
		group string
		use
	}
	var seen []groupUse
	find := func(g string) (use, bool) {
		for _, s := range seen {
			if s.group == g {
				return s.use, true
			}
		}
		return use{}, false
	}
	for _, u := range w.opts[1:] {
		if u.spec.group == groupCommand {
			return fmt.Errorf("two commands, %s and %s: one rule per line", cmd.as, u.as)
		}
		if !allowed[cmd.spec.id][u.spec.id] {
			return fmt.Errorf("%s does not go with %s (%s), ipvsadm refuses it: remove it", u.as, cmd.as, rule.what)
		}
		g := u.spec.group
		if g == groupNone {
			continue
		}
		if g == "" {
			g = u.spec.long
		}
		if first, dup := find(g); dup {
			if first.spec.id == u.spec.id {
				return fmt.Errorf("%s is given twice: keep one", u.as)
			}
			return fmt.Errorf("%s and %s both give the %s: keep one", first.as, u.as, g)
		}
		seen = append(seen, groupUse{g, u})
	}
	for _, g := range rule.need {
		if _, ok := find(g); !ok {
			return fmt.Errorf("%s (%s) needs %s", cmd.as, rule.what, needHelp[g])
		}
	}
	return nil
}

var needHelp = map[string]string{
	groupService:  "the service: -t|-u ADDR:PORT, --sctp-service ADDR:PORT or -f MARK",
	"real-server": "the real server: -r ADDR[:PORT]",
}

func (w words) get(id optID) (use, bool) {
	for _, u := range w.opts {
		if u.spec.id == id {
			return u, true
		}
	}
	return use{}, false
}

func (w words) group(g string) (use, bool) {
	for _, u := range w.opts {
		if u.spec.group == g {
			return u, true
		}
	}
	return use{}, false
}

// serviceOf reads which service a line names: protocol and address or
// firewall mark (ipvsadm.c, parse_service and parse_fwmark).
func serviceOf(w words) (harness.Service, error) {
	u, _ := w.group(groupService)
	var s harness.Service
	switch u.spec.id {
	case optFWMark:
		mark, err := number(u.value, 1, math.MaxUint32)
		if err != nil {
			return s, fmt.Errorf("%s %s: a firewall mark is a number from 1 to %d", u.as, quote(u.value), uint32(math.MaxUint32))
		}
		s.FWMark, s.Addr = uint32(mark), netip.IPv4Unspecified()
	default:
		s.Protocol = protocols[u.spec.id]
		a, port, hasPort, err := addrPort(u.value)
		if err != nil {
			return s, fmt.Errorf("%s %s: %w", u.as, quote(u.value), err)
		}
		if !hasPort {
			port = 0
		}
		s.Addr, s.Port = a, port
	}
	// ipvsadm applies -6 only after -f ("-6 used before -f").
	for _, o := range w.opts {
		if o.spec.id == optIPv6 {
			if s.FWMark == 0 || !before(w, optFWMark, optIPv6) {
				return s, fmt.Errorf("%s makes a firewall-mark service IPv6: give it after -f MARK, or remove it", o.as)
			}
			s.Addr = netip.IPv6Unspecified()
		}
	}
	return s, nil
}

var (
	protocols = map[optID]string{optTCP: "tcp", optUDP: "udp", optSCTP: "sctp"}
	methods   = map[optID]harness.ForwardMethod{optMasq: harness.MethodNAT, optIPIP: harness.MethodTUN, optGatewaying: harness.MethodDR}
)

func before(w words, a, b optID) bool {
	for _, u := range w.opts {
		switch u.spec.id {
		case a:
			return true
		case b:
			return false
		}
	}
	return false
}

// addrPort reads ADDR, ADDR:PORT, IPV6 or [IPV6]:PORT as ipvsadm's
// parse_service does, numbers only: lvslab resolves no host or service
// names, so that a check never depends on this machine's DNS.
func addrPort(s string) (a netip.Addr, port uint16, hasPort bool, err error) {
	if s == "" {
		return a, 0, false, errors.New("no address: give ADDR[:PORT]")
	}
	if strings.Trim(s, "0123456789") == "" {
		return a, 0, false, errors.New("a number, not an address: give ADDR[:PORT]")
	}
	host, portText := s, ""
	if s[0] == '[' {
		end := strings.IndexByte(s, ']')
		if end < 0 || !strings.HasPrefix(s[end+1:], ":") {
			return a, 0, false, errors.New("an address in brackets takes a port: write [IPV6]:PORT")
		}
		host, portText, hasPort = s[1:end], s[end+2:], true
		if a, err = netip.ParseAddr(host); err != nil || !a.Is6() {
			return a, 0, false, errors.New("brackets hold an IPv6 address: write [IPV6]:PORT, or IPV4:PORT")
		}
	} else if a, err = netip.ParseAddr(s); err != nil || !a.Is6() {
		// Not IPv6 as a whole: IPv4 with an optional port.
		if i := strings.LastIndexByte(s, ':'); i >= 0 {
			host, portText, hasPort = s[:i], s[i+1:], true
		}
		if a, err = netip.ParseAddr(host); err != nil || !a.Is4() {
			return a, 0, false, fmt.Errorf("%s is not a numeric IPv4 or IPv6 address: write the address in numbers (lvslab resolves no host names; ipvsadm -S -n writes numbers)", quote(host))
		}
	}
	if a.Zone() != "" {
		return a, 0, false, errors.New("an IPv6 zone (%…) names a link of this host: IPVS has none, remove it")
	}
	if a.Is4In6() {
		return a, 0, false, fmt.Errorf("%s is an IPv4-mapped IPv6 address: write it as the IPv4 address %s", a, a.Unmap())
	}
	if hasPort {
		p, err := number(portText, 0, math.MaxUint16)
		if err != nil {
			return a, 0, false, fmt.Errorf("port %s is not a number from 0 to 65535 (lvslab looks up no service names; ipvsadm -S -n writes numbers)", quote(portText))
		}
		port = uint16(p)
	}
	return a, port, hasPort, nil
}

// number reads a decimal number within [min, max] as ipvsadm's
// string_to_number (strtol) does, sign included.
func number(s string, min, max int64) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < min || n > max {
		return 0, fmt.Errorf("%s is not a number from %d to %d", quote(s), min, max)
	}
	return n, nil
}

func (p *parser) addService(cmd use, w words) error {
	id, err := serviceOf(w)
	if err != nil {
		return err
	}
	k := keyOf(id)
	s, err := p.settings(w, id)
	if err != nil {
		p.broken[k] = true
		return err
	}
	s.Line = p.line
	if err := p.t.Add(s); err != nil {
		return fmt.Errorf("%w: use -E to change it, or remove one of the lines", err)
	}
	delete(p.broken, k)
	return nil
}

func (p *parser) editService(cmd use, w words) error {
	id, err := serviceOf(w)
	if err != nil {
		return err
	}
	old, err := p.existing(cmd, id)
	if old == nil {
		return err
	}
	s, err := p.settings(w, id)
	if err != nil {
		return err
	}
	old.Service, old.PE, old.Line = s.Service, s.PE, p.line
	return nil
}

func (p *parser) delService(cmd use, w words) error {
	id, err := serviceOf(w)
	if err != nil {
		return err
	}
	old, err := p.existing(cmd, id)
	if old != nil {
		p.t.remove(old)
	}
	return err
}

// existing is the service a line changes: an error if no line before
// added it, nothing if its -A line was bad.
func (p *parser) existing(cmd use, id harness.Service) (*Service, error) {
	k := keyOf(id)
	if s := p.t.Service(k); s != nil {
		return s, nil
	}
	if p.broken[k] {
		return nil, nil
	}
	return nil, fmt.Errorf("%s names service %s, which no line before adds: add it with -A first (ipvsadm -R would fail with \"No such service\")", cmd.as, k)
}

// settings reads what -A and -E set: scheduler, persistence, flags.
func (p *parser) settings(w words, id harness.Service) (*Service, error) {
	s := &Service{Service: id}
	s.Scheduler = DefaultScheduler
	if u, ok := w.get(optScheduler); ok {
		if err := checkName(u, "scheduler"); err != nil {
			return nil, err
		}
		s.Scheduler = u.value
	}
	if u, ok := w.get(optPersistent); ok {
		s.Persistence = DefaultPersistence
		if u.hasValue {
			secs, err := number(u.value, 1, maxTimeout)
			if err != nil {
				return nil, fmt.Errorf("%s %s: persistence is 1 to %d seconds (31 days)", u.as, quote(u.value), maxTimeout)
			}
			s.Persistence = time.Duration(secs) * time.Second
		}
		s.PersistenceBits = 32
		if s.Addr.Is6() {
			s.PersistenceBits = 128
		}
	}
	if u, ok := w.get(optNetmask); ok {
		bits, err := netmask(u, s.Addr.Is6())
		if err != nil {
			return nil, err
		}
		if s.Persistence > 0 {
			s.PersistenceBits = bits
		} else {
			p.finding("%s %s has no effect without -p: the netmask only groups the clients of a persistent service", u.as, u.value)
		}
	}
	if u, ok := w.get(optOps); ok {
		if s.FWMark == 0 && s.Protocol != "udp" {
			return nil, fmt.Errorf("%s (one-packet scheduling) is for UDP services only: remove it, or make the service -u", u.as)
		}
		s.Flags |= harness.FlagOnePacket
	}
	if u, ok := w.get(optPE); ok {
		if err := checkName(u, "persistence engine"); err != nil {
			return nil, err
		}
		s.PE = u.value
	}
	if u, ok := w.get(optSchedFlags); ok {
		f, err := schedFlags(u, s.Scheduler)
		if err != nil {
			return nil, err
		}
		s.Flags |= f
	}
	if s.FWMark == 0 && s.Port == 0 && s.Persistence == 0 {
		return nil, errors.New("port 0 (every port) needs persistence, ipvsadm refuses it otherwise: add -p, or give the port as ADDR:PORT")
	}
	return s, nil
}

// checkName checks a scheduler or persistence engine's name. Which ones
// exist is the kernel's to say: a restore names the one it lacks.
func checkName(u use, what string) error {
	if u.value == "" || len(u.value) > maxNameLen || strings.ContainsFunc(u.value, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_')
	}) {
		return fmt.Errorf("%s %s: a %s is named by up to %d lowercase letters, digits or _ (rr, wrr, lc, wlc, sh, mh, …)", u.as, quote(u.value), what, maxNameLen)
	}
	return nil
}

// netmask reads -M: a dotted netmask for IPv4 (ipvsadm's parse_netmask), a
// prefix length for IPv6.
func netmask(u use, v6 bool) (int, error) {
	if v6 {
		n, err := number(u.value, 1, 128)
		if err != nil {
			return 0, fmt.Errorf("%s %s: an IPv6 service's persistence netmask is a prefix length from 1 to 128", u.as, quote(u.value))
		}
		return int(n), nil
	}
	m, err := netip.ParseAddr(u.value)
	if err != nil || !m.Is4() {
		return 0, fmt.Errorf("%s %s: an IPv4 service's persistence netmask is dotted, such as 255.255.255.0 (ipvsadm would read a bare number as an address)", u.as, quote(u.value))
	}
	b := m.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	n := bits.LeadingZeros32(^v)
	if n == 0 || v<<n != 0 {
		return 0, fmt.Errorf("%s %s: lvslab takes a contiguous netmask from 128.0.0.0 to 255.255.255.255 (a prefix): use one", u.as, u.value)
	}
	return n, nil
}

// schedFlags reads -b as ipvsadm's parse_sched_flags does: the sh and mh
// names only with their scheduler.
func schedFlags(u use, sched string) (uint32, error) {
	var f uint32
	for _, name := range strings.Split(u.value, ",") {
		var bit uint32
		var only string
		switch name {
		case "flag-1":
			bit = FlagSched1
		case "flag-2":
			bit = FlagSched2
		case "flag-3":
			bit = FlagSched3
		case "sh-fallback", "mh-fallback":
			bit, only = FlagSched1, name[:2]
		case "sh-port", "mh-port":
			bit, only = FlagSched2, name[:2]
		default:
			return 0, fmt.Errorf("%s %s: %s is not a scheduler flag: use sh-fallback, sh-port, mh-fallback, mh-port or flag-1, flag-2, flag-3, separated by commas", u.as, quote(u.value), quote(name))
		}
		if only != "" && sched != only {
			return 0, fmt.Errorf("%s %s: %s is a flag of the %s scheduler, not %s: use -s %s, or remove the flag", u.as, quote(u.value), name, only, sched, only)
		}
		f |= bit
	}
	return f, nil
}

func (p *parser) addReal(cmd use, w words) error {
	svc, r, err := p.realOf(cmd, w, true)
	if svc == nil || err != nil {
		return err
	}
	if err := svc.AddReal(r); err != nil {
		return fmt.Errorf("%w: use -e to change it, or remove one of the lines", err)
	}
	return nil
}

func (p *parser) editReal(cmd use, w words) error {
	_, old, r, err := p.existingReal(cmd, w, true, "add it with -a first")
	if old != nil {
		*old = *r
	}
	return err
}

func (p *parser) delReal(cmd use, w words) error {
	svc, old, _, err := p.existingReal(cmd, w, false, "remove the line")
	if old != nil {
		svc.removeReal(old)
	}
	return err
}

// existingReal is the real server an -e or -d line names (old) and what
// the line says of it (r); old is nil on an error, or on a line of a
// service whose -A line was bad.
func (p *parser) existingReal(cmd use, w words, settings bool, remedy string) (svc *Service, old, r *Real, err error) {
	svc, r, err = p.realOf(cmd, w, settings)
	if svc == nil || err != nil {
		return nil, nil, nil, err
	}
	if old = svc.Real(r.Addr, r.Port); old == nil {
		return nil, nil, nil, fmt.Errorf("%s names real server %s of %s, which no line before adds: %s", cmd.as, hostPort(r.Addr, r.Port), svc.Key(), remedy)
	}
	return svc, old, r, nil
}

// realOf reads a real server's line; settings says whether it sets one
// (-a, -e) or only names one (-d). A nil service with no error is a line
// of a service whose -A line was bad.
func (p *parser) realOf(cmd use, w words, settings bool) (*Service, *Real, error) {
	id, err := serviceOf(w)
	if err != nil {
		return nil, nil, err
	}
	svc, err := p.existing(cmd, id)
	if svc == nil {
		return nil, nil, err
	}
	u, _ := w.get(optRealServer)
	a, port, hasPort, err := addrPort(u.value)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", u.as, quote(u.value), err)
	}
	if !hasPort {
		port = svc.Port
	}
	r := &Real{Real: harness.Real{Addr: a, Port: port, Weight: DefaultWeight, Method: harness.MethodDR}, Line: p.line}
	if !settings {
		return svc, r, nil
	}
	if f, ok := w.group(groupForward); ok {
		r.Method = methods[f.spec.id]
	}
	if a.Is6() != svc.Addr.Is6() && r.Method != harness.MethodTUN {
		return nil, nil, fmt.Errorf("real server %s and service %s are of different families: only tunnelling (-i) crosses them", a, svc.Key())
	}
	// Direct routing and tunnelling keep the packet's port: ipvsadm sets
	// the service's whatever the line says.
	if svc.FWMark == 0 && r.Method != harness.MethodNAT {
		if hasPort && port != svc.Port {
			p.finding("real server %s: port %d ignored, %s sends to the service's port %d (as ipvsadm does)", a, port, r.Method, svc.Port)
		}
		r.Port = svc.Port
	}
	if u, ok := w.get(optWeight); ok {
		n, err := number(u.value, 0, maxWeight)
		if err != nil {
			return nil, nil, fmt.Errorf("%s %s: a weight is a number from 0 to %d", u.as, quote(u.value), maxWeight)
		}
		r.Weight = int(n)
	}
	for _, th := range []struct {
		id optID
		to *uint32
	}{{optUThreshold, &r.UpperThreshold}, {optLThreshold, &r.LowerThreshold}} {
		if u, ok := w.get(th.id); ok {
			n, err := number(u.value, 0, math.MaxInt32)
			if err != nil {
				return nil, nil, fmt.Errorf("%s %s: a connection threshold is a number from 0 to %d", u.as, quote(u.value), math.MaxInt32)
			}
			*th.to = uint32(n)
		}
	}
	if r.LowerThreshold > r.UpperThreshold {
		return nil, nil, fmt.Errorf("lower threshold %d is above upper threshold %d, which the kernel refuses: set -x at least as high as -y", r.LowerThreshold, r.UpperThreshold)
	}
	if err := tunnelOf(w, r); err != nil {
		return nil, nil, err
	}
	return svc, r, nil
}

// tunnelOf reads the --tun-* options as ipvsadm's tunnel_opt_check does.
func tunnelOf(w words, r *Real) error {
	var tun []use
	for _, u := range w.opts {
		switch u.spec.id {
		case optTunType, optTunPort, optTunNoCsum, optTunCsum, optTunRemCsum:
			tun = append(tun, u)
		}
	}
	if r.Method != harness.MethodTUN {
		if len(tun) > 0 {
			return fmt.Errorf("%s is for tunnelled real servers only: add -i, or remove it", tun[0].as)
		}
		return nil
	}
	r.Tunnel.Type = TunnelIPIP
	if u, ok := w.get(optTunType); ok {
		switch u.value {
		case TunnelIPIP, TunnelGUE, TunnelGRE:
			r.Tunnel.Type = u.value
		default:
			return fmt.Errorf("%s %s: a tunnel type is ipip, gue or gre", u.as, quote(u.value))
		}
	}
	// What each type takes: ipip nothing, gue a port and one checksum
	// mode, gre a checksum mode but no port nor remote checksum.
	var csum []use
	for _, u := range tun {
		switch u.spec.id {
		case optTunPort:
			if r.Tunnel.Type != TunnelGUE {
				return fmt.Errorf("%s is for --tun-type gue only: remove it", u.as)
			}
			n, err := number(u.value, 1, math.MaxUint16)
			if err != nil {
				return fmt.Errorf("%s %s: a tunnel port is a number from 1 to 65535", u.as, quote(u.value))
			}
			r.Tunnel.Port = uint16(n)
		case optTunNoCsum, optTunCsum, optTunRemCsum:
			if r.Tunnel.Type == TunnelIPIP || r.Tunnel.Type == TunnelGRE && u.spec.id == optTunRemCsum {
				return fmt.Errorf("%s does not go with --tun-type %s: remove it", u.as, r.Tunnel.Type)
			}
			csum = append(csum, u)
			r.Tunnel.Checksum = map[optID]string{optTunNoCsum: "", optTunCsum: ChecksumOn, optTunRemCsum: ChecksumRemote}[u.spec.id]
		}
	}
	if len(csum) > 1 {
		return fmt.Errorf("%s and %s both give the tunnel checksum: keep one", csum[0].as, csum[1].as)
	}
	if r.Tunnel.Type == TunnelGUE && r.Tunnel.Port == 0 {
		return errors.New("--tun-type gue needs --tun-port PORT (the real server's GUE port)")
	}
	return nil
}

func (p *parser) clear(use, words) error {
	p.t.clear()
	p.t.Flush = true
	return nil
}

func (p *parser) zero(cmd use, _ words) error {
	p.finding("%s zeroes counters: nothing to restore", cmd.as)
	return nil
}

func (p *parser) daemon(cmd use, _ words) error {
	if cmd.value != harness.SyncMaster && cmd.value != harness.SyncBackup {
		return fmt.Errorf("%s %s: a sync daemon is master or backup", cmd.as, quote(cmd.value))
	}
	p.finding("%s %s is not restored: a sync daemon is the lab's to run (lvslab up --ha)", cmd.as, cmd.value)
	return nil
}

// setTimeouts reads --set TCP TCPFIN UDP (seconds; 0 leaves one as is).
func (p *parser) setTimeouts(args []string) error {
	if len(args) != 3 {
		return errors.New("--set takes three timeouts, in seconds: --set TCP TCPFIN UDP (0 leaves one unchanged)")
	}
	t := &Timeouts{Line: p.line}
	if p.t.Timeouts != nil {
		*t = *p.t.Timeouts
		t.Line = p.line
	}
	for i, to := range []*time.Duration{&t.TCP, &t.TCPFin, &t.UDP} {
		n, err := number(args[i], 0, maxTimeout)
		if err != nil {
			return fmt.Errorf("--set: timeout %s is not 0 to %d seconds", quote(args[i]), maxTimeout)
		}
		if n > 0 {
			*to = time.Duration(n) * time.Second
		}
	}
	p.t.Timeouts = t
	return nil
}
