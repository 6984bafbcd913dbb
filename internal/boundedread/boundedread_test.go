package boundedread

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOnlyRegularFilesWithinTheLimit(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "small")
	if err := os.WriteFile(small, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	if data, err := File(small, 5); err != nil || string(data) != "hello" {
		t.Errorf("a file at the limit: %q, %v", data, err)
	}
	if _, err := File(small, 4); !errors.Is(err, ErrTooBig) || !strings.Contains(err.Error(), "has 5 bytes, more than the 4 bytes") {
		t.Errorf("a file over the limit: %v", err)
	}
	for _, p := range []string{"/dev/zero", dir} {
		if _, err := File(p, 1<<20); err == nil || !strings.Contains(err.Error(), "is not a regular file") {
			t.Errorf("%s: %v", p, err)
		}
	}
	if _, err := File(filepath.Join(dir, "none"), 1); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file: %v", err)
	}
}
