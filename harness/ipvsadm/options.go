//go:build linux

package ipvsadm

import (
	"fmt"
	"strings"
)

// ipvsadm reads its options with popt (ipvsadm.c, parse_options); this is
// that option table and the part of popt's syntax ipvsadm's lines use:
// short options, clustered or with the value attached (-At, -w5), long
// options with the value after a space or "=", "--" ending the options.
// popt is a C library; nothing in Go reads its syntax, hence this.

type optID int

const (
	optNone optID = iota
	// Commands: exactly one per line, first.
	cmdAddService
	cmdEditService
	cmdDelService
	cmdClear
	cmdList
	cmdZero
	cmdAddServer
	cmdEditServer
	cmdDelServer
	cmdSet
	cmdHelp
	cmdVersion
	cmdRestore
	cmdSave
	cmdStartDaemon
	cmdStopDaemon
	lastCommand
	// Options.
	optTCP
	optUDP
	optSCTP
	optFWMark
	optScheduler
	optPersistent
	optNetmask
	optRealServer
	optMasq
	optIPIP
	optGatewaying
	optWeight
	optUThreshold
	optLThreshold
	optNumeric
	optConnection
	optMcastInterface
	optSyncID
	optTimeout
	optDaemon
	optStats
	optRate
	optThresholds
	optPersistentConn
	optNoSort
	optSort
	optExact
	optIPv6
	optOps
	optPE
	optSchedFlags
	optMcastGroup
	optMcastPort
	optMcastTTL
	optSyncMaxlen
	optTunInfo
	optTunType
	optTunPort
	optTunNoCsum
	optTunCsum
	optTunRemCsum
)

type argKind uint8

const (
	noArg argKind = iota
	needsArg
	optionalArg
)

type optSpec struct {
	id    optID
	long  string
	short byte
	arg   argKind
	// group: options of one group may appear once per line ("multiple
	// ... options specified"); "" is a group of its own, "-" none.
	group string
}

const (
	groupService = "service"
	groupForward = "forwarding method"
	groupCommand = "command"
	groupNone    = "-"
)

var optSpecs = []optSpec{
	{cmdAddService, "add-service", 'A', noArg, groupCommand},
	{cmdEditService, "edit-service", 'E', noArg, groupCommand},
	{cmdDelService, "delete-service", 'D', noArg, groupCommand},
	{cmdClear, "clear", 'C', noArg, groupCommand},
	{cmdList, "list", 'L', noArg, groupCommand},
	{cmdList, "", 'l', noArg, groupCommand},
	{cmdZero, "zero", 'Z', noArg, groupCommand},
	{cmdAddServer, "add-server", 'a', noArg, groupCommand},
	{cmdEditServer, "edit-server", 'e', noArg, groupCommand},
	{cmdDelServer, "delete-server", 'd', noArg, groupCommand},
	{cmdSet, "set", 0, noArg, groupCommand},
	{cmdHelp, "help", 'h', noArg, groupCommand},
	{cmdVersion, "version", 'v', noArg, groupCommand},
	{cmdRestore, "restore", 'R', noArg, groupCommand},
	{cmdSave, "save", 'S', noArg, groupCommand},
	{cmdStartDaemon, "start-daemon", 0, needsArg, groupCommand},
	{cmdStopDaemon, "stop-daemon", 0, needsArg, groupCommand},

	{optTCP, "tcp-service", 't', needsArg, groupService},
	{optUDP, "udp-service", 'u', needsArg, groupService},
	{optSCTP, "sctp-service", 0, needsArg, groupService},
	{optFWMark, "fwmark-service", 'f', needsArg, groupService},
	{optScheduler, "scheduler", 's', needsArg, ""},
	{optPersistent, "persistent", 'p', optionalArg, ""},
	{optNetmask, "netmask", 'M', needsArg, ""},
	{optRealServer, "real-server", 'r', needsArg, ""},
	{optMasq, "masquerading", 'm', noArg, groupForward},
	{optIPIP, "ipip", 'i', noArg, groupForward},
	{optGatewaying, "gatewaying", 'g', noArg, groupForward},
	{optWeight, "weight", 'w', needsArg, ""},
	{optUThreshold, "u-threshold", 'x', needsArg, ""},
	{optLThreshold, "l-threshold", 'y', needsArg, ""},
	{optNumeric, "numeric", 'n', noArg, ""},
	{optConnection, "connection", 'c', noArg, ""},
	{optMcastInterface, "mcast-interface", 0, needsArg, ""},
	{optSyncID, "syncid", 0, needsArg, ""},
	{optTimeout, "timeout", 0, noArg, ""},
	{optDaemon, "daemon", 0, noArg, ""},
	{optStats, "stats", 0, noArg, ""},
	{optRate, "rate", 0, noArg, ""},
	{optThresholds, "thresholds", 0, noArg, ""},
	{optPersistentConn, "persistent-conn", 0, noArg, ""},
	{optNoSort, "nosort", 0, noArg, ""},
	{optSort, "sort", 0, noArg, groupNone},
	{optExact, "exact", 'X', noArg, ""},
	{optIPv6, "ipv6", '6', noArg, groupNone},
	{optOps, "ops", 'o', noArg, ""},
	{optPE, "pe", 0, needsArg, ""},
	{optSchedFlags, "sched-flags", 'b', needsArg, ""},
	{optMcastGroup, "mcast-group", 0, needsArg, ""},
	{optMcastPort, "mcast-port", 0, needsArg, ""},
	{optMcastTTL, "mcast-ttl", 0, needsArg, ""},
	{optSyncMaxlen, "sync-maxlen", 0, needsArg, ""},
	{optTunInfo, "tun-info", 0, noArg, ""},
	{optTunType, "tun-type", 0, needsArg, ""},
	{optTunPort, "tun-port", 0, needsArg, ""},
	{optTunNoCsum, "tun-nocsum", 0, noArg, ""},
	{optTunCsum, "tun-csum", 0, noArg, ""},
	{optTunRemCsum, "tun-remcsum", 0, noArg, ""},
}

var (
	byLong  = map[string]*optSpec{}
	byShort = map[byte]*optSpec{}
	byID    = map[optID]*optSpec{}
)

func init() {
	for i := range optSpecs {
		o := &optSpecs[i]
		if o.long != "" {
			byLong[o.long] = o
		}
		if o.short != 0 {
			byShort[o.short] = o
		}
		if byID[o.id] == nil {
			byID[o.id] = o
		}
	}
}

// name is how messages call an option: its short form if it has one.
func (o *optSpec) name() string {
	if o.short != 0 {
		return "-" + string(o.short)
	}
	return "--" + o.long
}

// use is one option as a line gives it.
type use struct {
	spec *optSpec
	// as is what the line wrote (-w, --weight).
	as       string
	value    string
	hasValue bool
}

// words is one line's options in order and its other arguments.
type words struct {
	opts []use
	args []string
}

// splitOptions reads a line's words as popt reads ipvsadm's argv.
func splitOptions(tokens []string) (words, error) {
	var w words
	for i := 0; i < len(tokens); i++ {
		tok := tokens[i]
		// next gives the following word as a value: always for a needed
		// one, for an optional one only if it is not an option itself.
		next := func(o *optSpec) (string, bool) {
			if i+1 >= len(tokens) {
				return "", false
			}
			if o.arg == optionalArg && strings.HasPrefix(tokens[i+1], "-") {
				return "", false
			}
			i++
			return tokens[i], true
		}
		switch {
		case tok == "--":
			w.args = append(w.args, tokens[i+1:]...)
			return w, nil
		case strings.HasPrefix(tok, "--"):
			name, value, hasValue := strings.Cut(tok[2:], "=")
			o := byLong[name]
			if o == nil {
				return w, fmt.Errorf("unknown option %s: see ipvsadm(8) for the options a rule takes", quote(tok))
			}
			u := use{spec: o, as: "--" + name, value: value, hasValue: hasValue}
			switch {
			case o.arg == noArg && hasValue:
				return w, fmt.Errorf("%s takes no value: remove %s", u.as, quote("="+value))
			case o.arg != noArg && !hasValue:
				u.value, u.hasValue = next(o)
			}
			if o.arg == needsArg && !u.hasValue {
				return w, fmt.Errorf("%s needs a value", u.as)
			}
			w.opts = append(w.opts, u)
		case len(tok) > 1 && tok[0] == '-':
			for j := 1; j < len(tok); j++ {
				o := byShort[tok[j]]
				if o == nil {
					return w, fmt.Errorf("unknown option -%s in %s: see ipvsadm(8) for the options a rule takes", quote(string(tok[j])), quote(tok))
				}
				u := use{spec: o, as: "-" + string(tok[j])}
				if o.arg != noArg {
					if rest := tok[j+1:]; rest != "" {
						u.value, u.hasValue = rest, true
					} else {
						u.value, u.hasValue = next(o)
					}
					if o.arg == needsArg && !u.hasValue {
						return w, fmt.Errorf("%s needs a value", u.as)
					}
					w.opts = append(w.opts, u)
					break
				}
				w.opts = append(w.opts, u)
			}
		default:
			w.args = append(w.args, tok)
		}
	}
	return w, nil
}

// quote prints a word of the input so that a message shows exactly what
// the line had, control characters and all.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		s = s[:max] + "…"
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == '"' || r == '\\' || r == 0xfffd {
			return fmt.Sprintf("%q", s)
		}
	}
	return s
}
