package conf

import (
	"testing"
	"time"
)

// The numbers keepalived's handlers read, as lib/parser.c reads them.
func TestNumbers(t *testing.T) {
	for _, c := range []struct {
		in       string
		base     int
		want     int64
		consumed int
	}{
		{"12", 0, 12, 2}, {" -7x", 0, -7, 3}, {"010", 0, 8, 3}, {"0x1f", 0, 31, 4}, {"0x", 0, 0, 1},
		{"09", 0, 0, 1}, {"abc", 0, 0, 0}, {"99999999999999999999", 10, 1<<63 - 1, 20}, {"-99999999999999999999", 10, -1 << 63, 21},
	} {
		v, n := strtol(c.in, c.base)
		if v != c.want || n != c.consumed {
			t.Errorf("strtol(%q, %d) = %d, %d; want %d, %d", c.in, c.base, v, n, c.want, c.consumed)
		}
	}
	for _, c := range []struct {
		in      string
		lo, hi  uint64
		ignore  bool
		want    uint64
		ok      bool // no error at all
		warning bool // an error a running keepalived still takes
	}{
		{"80", 1, 65535, true, 80, true, false},
		{"80x", 1, 65535, true, 80, false, true},
		{"80x", 1, 65535, false, 80, false, false},
		{"-1", 0, 10, true, 0, false, false},
		{"70000", 1, 65535, true, 70000, false, false},
		{" 5", 0, 10, false, 5, true, false},
	} {
		v, err := readUnsigned(c.in, c.lo, c.hi, c.ignore)
		if (err == nil) != c.ok || isWarning(err) != c.warning || (err == nil || isWarning(err)) && v != c.want {
			t.Errorf("readUnsigned(%q) = %d, %v", c.in, v, err)
		}
	}
	for _, c := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"3", 3 * time.Second, true}, {"0.5", 500 * time.Millisecond, true}, {"1.0000005", 1000001 * time.Microsecond, false},
		{"3s", 3 * time.Microsecond, false}, {"-1", 0, false},
	} {
		v, err := readTimer(c.in, 0, 0, true)
		if (err == nil) != c.ok || (err == nil || isWarning(err)) && micros(v) != c.want {
			t.Errorf("readTimer(%q) = %s, %v", c.in, micros(v), err)
		}
	}
	for in, want := range map[string][]string{
		`notify "/a b" root`: {"notify", "/a b", "root"},
		`x 'it''s' "q\"t"`:   {"x", "its", `q"t`},
		`e \x41\101\t\cA`:    {"e", "AA\t\x01"},
		`s "a # b"`:          {"s", "a # b"},
	} {
		got, ok := quotedWords(in)
		if !ok || len(got) != len(want) {
			t.Errorf("quotedWords(%q) = %q, %v", in, got, ok)
			continue
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("quotedWords(%q) = %q", in, got)
			}
		}
	}
	if _, ok := quotedWords(`a "open`); ok {
		t.Error("an unterminated quote passed")
	}
}
