//go:build linux

package ipvsadm

import (
	"strings"
	"testing"
	"time"
)

// FuzzParse: no input panics or takes long, and every table Parse gives
// is written back (Write) to text that parses to the same table, and
// writes the same again.
func FuzzParse(f *testing.F) {
	for _, c := range parseCases {
		f.Add(c.in)
		f.Add(c.want)
	}
	for _, c := range errorCases {
		if len(c.in) < 4096 {
			f.Add(c.in)
		}
	}
	f.Fuzz(func(t *testing.T, in string) {
		start := time.Now()
		tab, err := Parse("fuzz", strings.NewReader(in))
		// Parsing is linear: a second per MiB is far beyond it.
		if limit := time.Second + time.Duration(len(in))*time.Microsecond; time.Since(start) > limit {
			t.Fatalf("Parse of %d bytes took %s", len(in), time.Since(start))
		}
		if err != nil {
			if tab != nil {
				t.Fatal("a table with an error")
			}
			return
		}
		tab.Inventory()
		for _, s := range tab.Services {
			s.Unchecked()
		}
		var first strings.Builder
		if err := Write(&first, tab); err != nil {
			t.Fatal(err)
		}
		again, err := Parse("written", strings.NewReader(first.String()))
		if err != nil {
			t.Fatalf("Write's output does not parse: %v\ninput:\n%q\nwritten:\n%s", err, in, first.String())
		}
		if d := Diff(tab, again); d != nil {
			t.Fatalf("Write then Parse differs: %v\ninput:\n%q\nwritten:\n%s", d, in, first.String())
		}
		var second strings.Builder
		Write(&second, again)
		if first.String() != second.String() {
			t.Fatalf("Write is not stable:\n%s\nthen:\n%s", first.String(), second.String())
		}
	})
}
