//go:build linux

package vm

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// CheckOutDir accepts an output folder that the guest, then the host,
// write as root: an absolute path that is not a symlink and, if it exists,
// a directory of this user's or root's that others cannot write and that
// holds no symlink (a link planted there would send the guest's or the
// host's writes anywhere). It changes nothing.
func CheckOutDir(dir string) error {
	if !filepath.IsAbs(dir) {
		return fmt.Errorf("output folder %q must be an absolute path", dir)
	}
	if strings.ContainsAny(dir, "\n\x00") {
		return fmt.Errorf("output folder %q: a path with a newline cannot be shared with the guest: pick another --out", dir)
	}
	st, err := os.Lstat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("output folder %s: %w", dir, err)
	case st.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("output folder %s is a symlink: the guest writes there, so give the real folder with --out", dir)
	case !st.IsDir():
		return fmt.Errorf("output folder %s is not a directory: give a folder with --out", dir)
	case st.Mode().Perm()&0o002 != 0:
		// A check cannot make such a folder safe: anyone may plant a link
		// there after it, before the writes it was for.
		return fmt.Errorf("output folder %s is writable by every user, who could plant a link there that lvslab would write through as root: give a folder of your own that only you can write", dir)
	case !ownedHere(st):
		return fmt.Errorf("output folder %s belongs to another user, who could plant a link there that lvslab would write through as root: give a folder of your own", dir)
	}
	links, err := symlinksUnder(dir)
	if err != nil {
		return err
	}
	if len(links) > 0 {
		var named []string
		for p, target := range links {
			named = append(named, p+" -> "+target)
		}
		sort.Strings(named)
		return fmt.Errorf("output folder %s holds symlinks, and lvslab writes there as root: %s; remove them or give another --out",
			dir, strings.Join(named, ", "))
	}
	return nil
}

// makeOutDir checks an output folder (CheckOutDir) and makes it if missing.
func makeOutDir(dir string) error {
	if err := CheckOutDir(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("output folder %s: %w (give a folder you can write with --out)", dir, err)
	}
	// Again: another user may have put a link or a folder of theirs
	// there between the check and MkdirAll, which accepts either.
	return CheckOutDir(dir)
}

// ownedHere says whether a file belongs to this process's user, root, or
// the user who ran sudo (a results folder made before "sudo make test").
func ownedHere(st fs.FileInfo) bool {
	sys, ok := st.Sys().(*syscall.Stat_t)
	return !ok || sys.Uid == 0 || int(sys.Uid) == os.Geteuid() || strconv.Itoa(int(sys.Uid)) == os.Getenv("SUDO_UID")
}

// symlinksUnder lists every symlink below dir and its target. An entry
// that vanishes during the walk holds no link.
func symlinksUnder(dir string) (map[string]string, error) {
	links := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p != dir && errors.Is(err, fs.ErrNotExist) {
				return nil
			}
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

// refuseSymlinks removes every symlink below dir, which held none before
// the guest ran (CheckOutDir), and fails naming them: the guest writes the
// output folder, and the host writes reports there after it, as root, so a
// link the guest made could send such a write anywhere.
func refuseSymlinks(dir string) error {
	now, err := symlinksUnder(dir)
	if err != nil {
		return err
	}
	var made []string
	for p, target := range now {
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
