package conf

import (
	"fmt"
	"math"
	"net/netip"
	"strings"
	"time"
)

// keepalived reads numbers with strtoul()/strtol() and its own decimal
// reader (lib/parser.c read_unsigned_func, read_int_func,
// read_decimal_unsigned_long_func). Where a handler passes ignore_error,
// a running keepalived takes a number with trailing garbage ("80x" is 80)
// with a warning, while keepalived -t refuses it; the reader follows the
// running keepalived and reports the warning as a Problem.

// numberError is why keepalived refuses or warns about a number; ok says
// whether the running keepalived still takes the value.
type numberError struct {
	msg string
}

func (e *numberError) Error() string { return e.msg }

// cnumber reads a number the way C's strtol()/strtoul() do: blanks, a
// sign, and digits of base (0: "0x" hex, "0" octal, else decimal); it
// returns the magnitude (clamped on overflow) and the bytes read (0 when
// there is no digit).
func cnumber(s string, base int) (mag uint64, neg, over bool, n int) {
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	hexPrefix := i+2 < len(s) && s[i] == '0' && (s[i+1] == 'x' || s[i+1] == 'X') && isXDigit(s[i+2])
	switch {
	case base == 0 && hexPrefix, base == 16 && hexPrefix:
		base = 16
		i += 2
	case base == 0 && i < len(s) && s[i] == '0':
		base = 8
	case base == 0:
		base = 10
	}
	start := i
	for ; i < len(s); i++ {
		var d uint64
		switch c := s[i]; {
		case isDigit(c):
			d = uint64(c - '0')
		case 'a' <= c && c <= 'z':
			d = uint64(c-'a') + 10
		case 'A' <= c && c <= 'Z':
			d = uint64(c-'A') + 10
		default:
			d = 99
		}
		if d >= uint64(base) {
			break
		}
		if mag > (math.MaxUint64-d)/uint64(base) {
			over = true
		} else if !over {
			mag = mag*uint64(base) + d
		}
	}
	if i == start {
		return 0, false, false, 0
	}
	if over {
		mag = math.MaxUint64
	}
	return mag, neg, over, i
}

// strtoul is C's strtoul(s, &end, 10): the value (clamped on overflow;
// negated for a '-', as C does), whether it overflowed, and the rest.
func strtoul(s string) (v uint64, over bool, rest string) {
	mag, neg, over, n := cnumber(s, 10)
	if n == 0 {
		return 0, false, s
	}
	if neg && !over {
		mag = -mag
	}
	return mag, over, s[n:]
}

// strtol is C's strtol(s, &end, base): the value, clamped to a long, and
// the bytes read (0 when there is no number).
func strtol(s string, base int) (int64, int) {
	mag, neg, _, n := cnumber(s, base)
	switch {
	case n == 0:
		return 0, 0
	case neg && mag >= 1<<63:
		return math.MinInt64, n
	case neg:
		return -int64(mag), n
	case mag > math.MaxInt64:
		return math.MaxInt64, n
	}
	return int64(mag), n
}

// readUnsigned is read_unsigned_func with base 10.
func readUnsigned(s string, lo, hi uint64, ignoreError bool) (uint64, error) {
	off := 0
	for off < len(s) && strings.IndexByte(" \t\f\n\r\v", s[off]) >= 0 {
		off++
	}
	v, over, rest := strtoul(s[off:])
	var msg string
	switch {
	case off < len(s) && s[off] == '-':
		msg = fmt.Sprintf("negative number '%s'", s)
	case rest != "":
		msg = fmt.Sprintf("invalid number '%s'", s)
	case over || v > math.MaxUint32:
		msg = fmt.Sprintf("number '%s' outside unsigned integer range", s)
	case v < lo || v > hi:
		msg = fmt.Sprintf("number '%s' outside range [%d, %d]", s, lo, hi)
	default:
		return v, nil
	}
	v = uint64(uint32(v))
	if ignoreError && v >= lo && v <= hi {
		return v, &numberError{msg: "WARNING - " + msg + " (keepalived -t refuses it)"}
	}
	return v, &numberError{msg: msg}
}

// readInt is read_int_func with base 10.
func readInt(s string, lo, hi int64, ignoreError bool) (int64, error) {
	v, n := strtol(s, 10)
	var msg string
	switch {
	case n < len(s):
		msg = fmt.Sprintf("invalid number '%s'", s)
	case v < math.MinInt32 || v > math.MaxInt32:
		msg = fmt.Sprintf("number '%s' outside integer range", s)
	case v < lo || v > hi:
		msg = fmt.Sprintf("number '%s' outside range [%d, %d]", s, lo, hi)
	default:
		return v, nil
	}
	if ignoreError && v >= lo && v <= hi {
		return v, &numberError{msg: "WARNING - " + msg + " (keepalived -t refuses it)"}
	}
	return v, &numberError{msg: msg}
}

// timerDigits is keepalived's TIMER_HZ_DIGITS: timers are microseconds.
const timerDigits = 6

// readTimer is read_timer(): a decimal number of seconds with up to six
// decimals, in microseconds, within [lo, hi] microseconds (hi 0: no
// upper bound but keepalived's TIMER_MAXIMUM).
func readTimer(s string, lo, hi uint64, ignoreError bool) (uint64, error) {
	if hi == 0 {
		hi = math.MaxUint64 - 1
	}
	if strings.HasPrefix(s, "-") {
		return 0, &numberError{msg: fmt.Sprintf("negative number '%s'", s)}
	}
	intPart, frac := s, ""
	roundUp := false
	var warn string
	if dp := strings.IndexByte(s, '.'); dp >= 0 {
		intPart, frac = s[:dp], s[dp+1:]
		if len(frac) > timerDigits {
			warn = fmt.Sprintf("number '%s' has too many decimal places", s)
			roundUp = frac[timerDigits] >= '5'
			frac = frac[:timerDigits]
		}
	}
	digits := intPart + frac + strings.Repeat("0", timerDigits-len(frac))
	v, over, rest := strtoul(digits)
	if roundUp {
		v++
	}
	var msg string
	switch {
	case rest != "":
		msg = fmt.Sprintf("invalid number '%s'", s)
	case over:
		return 0, &numberError{msg: fmt.Sprintf("number '%s' outside unsigned decimal range", s)}
	case v < lo || v > hi:
		msg = fmt.Sprintf("number '%s' outside range [%s, %s]", s, formatMicros(lo), formatMicros(hi))
	default:
		if warn != "" {
			return v, &numberError{msg: "WARNING - " + warn}
		}
		return v, nil
	}
	if ignoreError && v >= lo && v <= hi {
		return v, &numberError{msg: "WARNING - " + msg + fmt.Sprintf(" (keepalived takes %s s; keepalived -t refuses it)", formatMicros(v))}
	}
	return v, &numberError{msg: msg}
}

func formatMicros(us uint64) string {
	return fmt.Sprintf("%d.%06d", us/1e6, us%1e6)
}

// micros converts keepalived's microseconds to a Duration.
func micros(us uint64) time.Duration {
	if us > math.MaxInt64/1000 {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(us) * time.Microsecond
}

// isWarning says the number error still leaves keepalived a value.
func isWarning(err error) bool {
	e, ok := err.(*numberError)
	return ok && strings.HasPrefix(e.msg, "WARNING - ")
}

// checkTrueFalse is check_true_false(): 1, 0, or -1 for neither.
func checkTrueFalse(s string) int {
	switch s {
	case "true", "on", "yes":
		return 1
	case "false", "off", "no":
		return 0
	}
	return -1
}

// parseAddr is inet_pton() on a keepalived address string: IPv6 if it
// has a ':', IPv4 otherwise (dotted quad only).
func parseAddr(s string) (netip.Addr, bool) {
	if strings.ContainsAny(s, "%") {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	if strings.Contains(s, ":") != a.Is6() {
		return netip.Addr{}, false
	}
	return a, true
}

// parseSockaddr is inet_stosockaddr(): an address (anything from a '-' or
// '/' on is ignored) and an optional port in [1, 65535]. A port of "0"
// (or "00"…) is no port, as alloc_vs/alloc_rs pass it.
func parseSockaddr(ip, port string) (netip.AddrPort, bool) {
	if port != "" && strings.Trim(port, "0") == "" {
		port = ""
	}
	var p uint64
	if port != "" {
		v, err := readUnsigned(port, 1, 65535, true)
		if err != nil && !isWarning(err) {
			return netip.AddrPort{}, false
		}
		p = v
	}
	if i := strings.IndexAny(ip, "-"); i >= 0 {
		ip = ip[:i]
	} else if i := strings.IndexByte(ip, '/'); i >= 0 {
		ip = ip[:i]
	}
	a, ok := parseAddr(ip)
	if !ok {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(a, uint16(p)), true
}

// parseVSAddress reads a virtual_server's words: "IP [PORT]", "fwmark N"
// or "group NAME" (alloc_vs).
func parseVSAddress(args []string) (vsAddress, error) {
	var a vsAddress
	switch {
	case args[0] == "group":
		if len(args) > 1 {
			a.group = args[1]
		}
		return a, nil
	case args[0] == "fwmark":
		if len(args) < 2 {
			return a, fmt.Errorf("virtual server fwmark needs a number")
		}
		v, err := readUnsigned(args[1], 0, math.MaxUint32, true)
		if err != nil && !isWarning(err) {
			return a, fmt.Errorf("virtual server fwmark '%s' must be in [0, %d] - ignoring", args[1], uint32(math.MaxUint32))
		}
		m := int(v)
		a.fwmark = &m
		return a, nil
	}
	port := ""
	if len(args) > 1 {
		port = args[1]
	}
	ap, ok := parseSockaddr(args[0], port)
	if !ok {
		return a, fmt.Errorf("Invalid virtual server IP address/port %s/%s", args[0], port)
	}
	a.addr = ap
	return a, nil
}

type vsAddress struct {
	addr   netip.AddrPort
	fwmark *int
	group  string
}

// quotedWords is alloc_strvec_quoted_escaped(): words split on blanks,
// with shell-like '…' and "…" quoting and backslash escapes (\n \t \xHH
// \NNN \cC …). false for an unterminated quote or a trailing backslash.
func quotedWords(s string) ([]string, bool) {
	var words []string
	i := 0
	for {
		for i < len(s) && strings.IndexByte(" \t\f\n\r\v", s[i]) >= 0 {
			i++
		}
		if i >= len(s) {
			return words, true
		}
		var w []byte
		var quote byte
		for i < len(s) {
			c := s[i]
			switch {
			case c == '\\':
				i++
				if i >= len(s) {
					return words, false
				}
				e := s[i]
				switch {
				case e == 'x' && i+1 < len(s) && isXDigit(s[i+1]):
					var v byte
					i++
					for i < len(s) && isXDigit(s[i]) {
						v = v<<4 | hexVal(s[i])
						i++
					}
					w = append(w, v)
					continue
				case e == 'c' && i+1 < len(s):
					w = append(w, s[i+1]&0x1f)
					i += 2
					continue
				case '0' <= e && e <= '7':
					v := e - '0'
					i++
					for k := 0; k < 2 && i < len(s) && '0' <= s[i] && s[i] <= '7'; k++ {
						v = v<<3 + (s[i] - '0')
						i++
					}
					w = append(w, v)
					continue
				}
				w = append(w, map[byte]byte{'a': '\a', 'b': '\b', 'E': 0x1b, 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t', 'v': '\v'}[e])
				if w[len(w)-1] == 0 {
					w[len(w)-1] = e
				}
				i++
				continue
			case quote != 0 && c == quote:
				quote = 0
				i++
				continue
			case quote == 0 && (c == '"' || c == '\''):
				quote = c
				i++
				continue
			case quote == 0 && strings.IndexByte(" \t\f\n\r\v", c) >= 0:
			default:
				w = append(w, c)
				i++
				continue
			}
			break
		}
		if quote != 0 {
			return words, false
		}
		words = append(words, string(w))
	}
}

func hexVal(c byte) byte {
	switch {
	case isDigit(c):
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}
