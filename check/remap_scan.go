//go:build linux

package check

import (
	"net/netip"
	"strings"
)

// Addresses are found in text by hand: a regular expression cannot say
// "an IPv6 address" short of a page, and netip decides what parses. A
// candidate is a run of hex digits, dots and colons standing alone (no
// letter, digit or underscore touching it), so eth0, a MAC address, a
// digest or a version number never is one.

func isRunByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == '.' || c == ':'
}

func isWordByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
}

// scanAddrs calls fn for every remappable address written in s: where
// its text starts and ends, the address, and the prefix length written
// after it ("/24"), or -1.
func scanAddrs(s string, fn func(start, end int, a netip.Addr, bits int)) {
	for i := 0; i < len(s); {
		if !isRunByte(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && isRunByte(s[j]) {
			j++
		}
		if (i == 0 || !isWordByte(s[i-1])) && (j == len(s) || !isWordByte(s[j])) {
			if a, n, ok := addrIn(s[i:j]); ok && remappable(a) {
				fn(i, i+n, a, prefixLen(s[i+n:], a))
			}
		}
		i = j
	}
}

// addrIn reads the address a run starts with: the whole run, the run
// less trailing dots or colons (the end of a sentence; the longest that
// parses, so "2001:db8::." keeps its "::"), or an IPv4 address before
// ":port" (ipvsadm's 192.0.2.1:80).
func addrIn(run string) (netip.Addr, int, bool) {
	for n := len(run); n > 0; n-- {
		if a, err := netip.ParseAddr(run[:n]); err == nil {
			return a, n, true
		}
		if c := run[n-1]; c != '.' && c != ':' {
			break
		}
	}
	core := strings.TrimRight(run, ".:")
	if i := strings.LastIndexByte(core, ':'); i > 0 && strings.Contains(core[:i], ".") {
		if a, err := netip.ParseAddr(core[:i]); err == nil && a.Is4() && allDigits(core[i+1:]) {
			return a, i, true
		}
	}
	return netip.Addr{}, 0, false
}

// prefixLen reads "/N" at the start of rest, a length a's family allows.
func prefixLen(rest string, a netip.Addr) int {
	if len(rest) < 2 || rest[0] != '/' {
		return -1
	}
	n, k := 0, 1
	for ; k < len(rest) && k <= 3 && rest[k] >= '0' && rest[k] <= '9'; k++ {
		n = n*10 + int(rest[k]-'0')
	}
	if k == 1 || k < len(rest) && rest[k] >= '0' && rest[k] <= '9' || n > a.BitLen() {
		return -1
	}
	return n
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// replaceAddrs rewrites every remappable address of s that move changes,
// leaving every other byte as it was.
func replaceAddrs(s string, move func(netip.Addr) netip.Addr) string {
	var b strings.Builder
	last := 0
	scanAddrs(s, func(start, end int, a netip.Addr, _ int) {
		if to := move(a); to != a {
			b.WriteString(s[last:start])
			b.WriteString(to.String())
			last = end
		}
	})
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}
