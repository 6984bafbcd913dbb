//go:build linux

package loadgen

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// AsFlags names each setting CheckSettings refused by lvslab load's flag
// for it, all on one line.
func AsFlags(err error) error {
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	var parts []string
	for _, e := range errs {
		var se *SettingError
		if errors.As(e, &se) {
			parts = append(parts, "--"+se.Error())
		} else {
			parts = append(parts, e.Error())
		}
	}
	return errors.New(strings.Join(parts, "; "))
}

// ProgressPrinter reports a run of duration d on w, prefixed with name
// off a terminal: on a terminal (live), one line rewritten every second;
// elsewhere (a CI log), a line every 10 seconds.
func ProgressPrinter(w io.Writer, name string, live bool, d time.Duration) func(Second) {
	return func(s Second) {
		if live {
			fmt.Fprintf(w, "\r%3ds  %8d req/s  %6d errors ", s.At, s.Requests, s.Errors)
			return
		}
		if s.At%10 == 0 {
			done := time.Duration(s.At) * time.Second
			fmt.Fprintf(w, "%s: %s of %s (%.0f%%), %d req/s and %d errors in the last second, about %s left\n",
				name, done, d, 100*done.Seconds()/d.Seconds(), s.Requests, s.Errors, max(d-done, 0))
		}
	}
}
