//go:build linux

package vm

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
)

// A kernel package is unpacked by lvslab itself, not by dpkg-deb -x: as
// root, dpkg-deb keeps what the archive says (setuid bits, symlinks to
// anywhere, devices), and the cache is world-readable and read by depmod
// and QEMU. A .deb is read as dpkg-deb --fsys-tarfile streams it (dpkg
// knows every compression Debian uses), checked whole before anything is
// written, and only the parts a VM boots are written, as plain files and
// directories of lvslab's own modes.

// kernelTrees are the parts of a kernel package a VM uses: the image and
// config (boot/, or usr/lib/modules/R/ from Debian's 7.x on) and the
// modules.
var kernelTrees = []string{"boot", "lib/modules", "usr/lib/modules"}

// inKernelTree reports whether an archive path (cleaned, relative) lies in
// one of the kernelTrees, or is a directory leading to one.
func inKernelTree(p string) (inside, leading bool) {
	for _, t := range kernelTrees {
		if p == t || strings.HasPrefix(p, t+"/") {
			return true, false
		}
		if strings.HasPrefix(t, p+"/") {
			leading = true
		}
	}
	return false, leading
}

// debEntry is one member of a package's data archive that lvslab writes.
type debEntry struct {
	name string // relative, cleaned
	dir  bool
	exec bool
}

// checkDebMember refuses what a kernel package never holds in the parts a
// VM uses: anything but plain files and directories, a path that climbs
// out, a setuid, setgid or sticky bit. Members outside those parts (the
// package's documentation) are left out unread, whatever they are.
func checkDebMember(h *tar.Header) (*debEntry, error) {
	name := path.Clean(strings.TrimPrefix(h.Name, "./"))
	if name == "." {
		return nil, nil
	}
	if path.IsAbs(name) || !filepath.IsLocal(name) {
		return nil, fmt.Errorf("member %q lies outside the package's root", h.Name)
	}
	inside, leading := inKernelTree(name)
	if !inside && !leading {
		return nil, nil
	}
	rule := "a kernel package's image and modules are plain files and directories"
	switch h.Typeflag {
	case tar.TypeDir:
	case tar.TypeReg:
		if !inside {
			return nil, nil
		}
	case tar.TypeSymlink:
		return nil, fmt.Errorf("member %s is a symlink to %s: %s", name, h.Linkname, rule)
	case tar.TypeLink:
		return nil, fmt.Errorf("member %s is a hard link to %s: %s", name, h.Linkname, rule)
	default:
		return nil, fmt.Errorf("member %s is of tar type %q (a device, fifo or other special file): %s", name, h.Typeflag, rule)
	}
	if h.Mode&(0o4000|0o2000|0o1000) != 0 {
		return nil, fmt.Errorf("member %s has mode %o (setuid, setgid or sticky): a kernel package has no such file", name, h.Mode&0o7777)
	}
	return &debEntry{name: name, dir: h.Typeflag == tar.TypeDir, exec: h.Mode&0o111 != 0}, nil
}

// debTar streams a .deb's data archive to fn, one member at a time.
func debTar(ctx context.Context, deb string, fn func(*tar.Header, io.Reader) error) error {
	cmd := exec.CommandContext(ctx, "dpkg-deb", "--fsys-tarfile", deb)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return errors.New("dpkg-deb is not installed: apt-get install dpkg (make deps does)")
		}
		return err
	}
	tr := tar.NewReader(out)
	var walkErr error
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			walkErr = fmt.Errorf("read %s: %w", filepath.Base(deb), err)
			break
		}
		if err := fn(h, tr); err != nil {
			walkErr = err
			break
		}
	}
	// Drain, so that dpkg-deb ends on its own rather than on a broken pipe.
	io.Copy(io.Discard, out)
	werr := cmd.Wait()
	if walkErr != nil {
		return walkErr
	}
	if werr != nil {
		return fmt.Errorf("dpkg-deb --fsys-tarfile %s: %v: %s", filepath.Base(deb), werr, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// checkDebs reads every package whole and refuses the first member that
// breaks checkDebMember, before anything is written.
func checkDebs(ctx context.Context, debs []string) error {
	for _, deb := range debs {
		err := debTar(ctx, deb, func(h *tar.Header, _ io.Reader) error {
			_, err := checkDebMember(h)
			return err
		})
		if err != nil {
			return fmt.Errorf("package %s refused: %w", filepath.Base(deb), err)
		}
	}
	return nil
}

// unpackDebs writes the kernel parts of checked packages under root, which
// must not exist yet: directories 0755, files 0644 (0755 if executable),
// each created new and never through a link.
func unpackDebs(ctx context.Context, debs []string, root string) error {
	if err := os.Mkdir(root, 0o755); err != nil {
		return err
	}
	for _, deb := range debs {
		err := debTar(ctx, deb, func(h *tar.Header, r io.Reader) error {
			e, err := checkDebMember(h)
			if err != nil || e == nil {
				return err
			}
			return writeDebEntry(root, e, r)
		})
		if err != nil {
			return fmt.Errorf("unpack %s: %w", filepath.Base(deb), err)
		}
	}
	return nil
}

func writeDebEntry(root string, e *debEntry, r io.Reader) error {
	p := filepath.Join(root, e.name)
	// Every directory on the way is one this function made: the archive
	// holds no links, and the parents come first or are made here.
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	if e.dir {
		if err := os.Mkdir(p, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
		return os.Chmod(p, 0o755) // whatever the umask: the cache is read by anyone
	}
	mode := os.FileMode(0o644)
	if e.exec {
		mode = 0o755
	}
	// Two packages of one build never hold the same file: O_EXCL says so
	// (and, with O_CREATE, never follows a link).
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
