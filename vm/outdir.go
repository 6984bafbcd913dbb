//go:build linux

package vm

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// checkOutDir accepts an output folder the guest may write: an absolute
// path to a directory (made if missing) that is not itself a symlink.
func checkOutDir(dir string) error {
	if !filepath.IsAbs(dir) {
		return fmt.Errorf("output folder %q must be an absolute path", dir)
	}
	if strings.ContainsAny(dir, "\n\x00") {
		return fmt.Errorf("output folder %q: a path with a newline cannot be shared with the guest: pick another --out", dir)
	}
	st, err := os.Lstat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("output folder %s: %w (give a folder you can write with --out)", dir, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("output folder %s: %w", dir, err)
	case st.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("output folder %s is a symlink: the guest writes there, so give the real folder with --out", dir)
	case !st.IsDir():
		return fmt.Errorf("output folder %s is not a directory: give a folder with --out", dir)
	}
	return nil
}

// symlinksUnder lists every symlink below dir and its target.
func symlinksUnder(dir string) (map[string]string, error) {
	links := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			target, _ := os.Readlink(p)
			links[p] = target
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list the output folder %s: %w", dir, err)
	}
	return links, nil
}

// refuseNewSymlinks removes every symlink below dir that was not in
// before (or now points elsewhere), and fails naming them: the guest
// writes the output folder, and the host writes reports there after it,
// as root, so a link the guest made could send such a write anywhere.
func refuseNewSymlinks(dir string, before map[string]string) error {
	now, err := symlinksUnder(dir)
	if err != nil {
		return err
	}
	var made []string
	for p, target := range now {
		if old, ok := before[p]; ok && old == target {
			continue
		}
		if err := os.Remove(p); err != nil {
			return fmt.Errorf("remove the symlink %s the guest made: %w", p, err)
		}
		made = append(made, p+" -> "+target)
	}
	if len(made) == 0 {
		return nil
	}
	sort.Strings(made)
	return fmt.Errorf("the guest made symlinks in the output folder %s, which the host writes after it: %s; lvslab removed them and refuses this run's output (the command in the VM must write files, not links)",
		dir, strings.Join(made, ", "))
}
