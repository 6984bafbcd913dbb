// Package boundedread reads the files a user hands lvslab (reports,
// results, thresholds) whole, but only when they are regular files of at
// most a given size: /dev/zero or a 20 GB file must be an error, not an
// out-of-memory death. It only reads.
package boundedread

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// ErrTooBig is the error of a file over its limit.
var ErrTooBig = errors.New("too big")

// File returns the contents of the regular file at path, of at most limit
// bytes. Its errors name the path.
func File(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%s): give the file itself", path, st.Mode().Type())
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("%s has %d bytes, more than the %s such a file may have: %w", path, st.Size(), size(limit), ErrTooBig)
	}
	// The size can change while it is read: read one byte past the limit.
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s grew past the %s such a file may have while it was read: %w", path, size(limit), ErrTooBig)
	}
	return data, nil
}

func size(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}
