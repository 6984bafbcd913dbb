//go:build linux

package vm

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// buildDeb makes a .deb of the tree that setup fills (dpkg-deb --build,
// which keeps modes and links as they are on disk).
func buildDeb(t *testing.T, setup func(root string)) string {
	t.Helper()
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Skip("dpkg-deb is not installed")
	}
	root := filepath.Join(t.TempDir(), "pkg")
	os.MkdirAll(filepath.Join(root, "DEBIAN"), 0o755)
	os.WriteFile(filepath.Join(root, "DEBIAN/control"), []byte("Package: linux-image-9.9.9-test\nVersion: 1\nArchitecture: amd64\nMaintainer: t <t@example.org>\nDescription: test\n"), 0o644)
	setup(root)
	deb := root + ".deb"
	if out, err := exec.Command("dpkg-deb", "--root-owner-group", "-Zgzip", "--build", root, deb).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb --build: %v: %s", err, out)
	}
	return deb
}

func kernelTree(root string) {
	mods := filepath.Join(root, "lib/modules/9.9.9-test/kernel/net")
	os.MkdirAll(mods, 0o755)
	os.MkdirAll(filepath.Join(root, "boot"), 0o755)
	os.WriteFile(filepath.Join(root, "boot/vmlinuz-9.9.9-test"), []byte("image"), 0o666)
	os.Chmod(filepath.Join(root, "boot/vmlinuz-9.9.9-test"), 0o666) // past the umask
	os.WriteFile(filepath.Join(mods, "dummy.ko"), []byte("module"), 0o644)
}

func TestUnpackRefusesWhatAKernelPackageNeverHolds(t *testing.T) {
	for _, c := range []struct {
		name  string
		setup func(root string)
		want  string
	}{
		{"modules directory a link out", func(root string) {
			os.MkdirAll(filepath.Join(root, "lib/modules"), 0o755)
			os.Symlink("/etc", filepath.Join(root, "lib/modules/9.9.9-test"))
			os.MkdirAll(filepath.Join(root, "boot"), 0o755)
			os.WriteFile(filepath.Join(root, "boot/vmlinuz-9.9.9-test"), []byte("image"), 0o644)
		}, "lib/modules/9.9.9-test is a symlink to /etc"},
		{"setuid helper", func(root string) {
			kernelTree(root)
			os.WriteFile(filepath.Join(root, "boot/helper"), []byte("#!/bin/sh\n"), 0o755)
			os.Chmod(filepath.Join(root, "boot/helper"), os.ModeSetuid|0o755)
		}, "boot/helper has mode 4755 (setuid"},
		{"absolute link among the modules", func(root string) {
			kernelTree(root)
			os.Symlink("/usr/bin/passwd", filepath.Join(root, "lib/modules/9.9.9-test/kernel/net/x.ko"))
		}, "is a symlink to /usr/bin/passwd"},
		{"lib itself a link", func(root string) {
			os.Symlink("/tmp", filepath.Join(root, "lib"))
		}, "member lib is a symlink"},
	} {
		t.Run(c.name, func(t *testing.T) {
			deb := buildDeb(t, c.setup)
			err := checkDebs(t.Context(), []string{deb})
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "refused") {
				t.Fatalf("checkDebs: %v; want a refusal saying %q", err, c.want)
			}
		})
	}
}

func TestUnpackWritesOnlyTheKernelAsPlainFiles(t *testing.T) {
	deb := buildDeb(t, func(root string) {
		kernelTree(root)
		// Outside the kernel's parts: never written, whatever it is.
		os.MkdirAll(filepath.Join(root, "usr/share/doc"), 0o755)
		os.Symlink("/etc/shadow", filepath.Join(root, "usr/share/doc/linux-image-9.9.9-test"))
		os.MkdirAll(filepath.Join(root, "usr/bin"), 0o755)
		os.WriteFile(filepath.Join(root, "usr/bin/tool"), []byte("x"), 0o4755)
		os.Chmod(filepath.Join(root, "usr/bin/tool"), os.ModeSetuid|0o755)
	})
	if err := checkDebs(t.Context(), []string{deb}); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(t.TempDir(), "root")
	if err := unpackDebs(t.Context(), []string{deb}, root); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(root, "boot/vmlinuz-9.9.9-test"))
	if err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("image: %v, mode %v; want 0644 whatever the archive says (0666)", err, st.Mode())
	}
	if _, err := os.Stat(filepath.Join(root, "lib/modules/9.9.9-test/kernel/net/dummy.ko")); err != nil {
		t.Error(err)
	}
	for _, p := range []string{"usr/share/doc/linux-image-9.9.9-test", "usr/bin/tool"} {
		if _, err := os.Lstat(filepath.Join(root, p)); err == nil {
			t.Errorf("%s was written: only boot/ and the modules trees are", p)
		}
	}
	k, err := findKernel(root)
	if err != nil || k.Release != "9.9.9-test" {
		t.Errorf("findKernel: %+v, %v", k, err)
	}
}

// A split build's image lies in usr/lib/modules/R/vmlinuz, its modules
// beside it; a package with the image only says what to pin.
func TestFindKernelOfASplitBuild(t *testing.T) {
	root := t.TempDir()
	mods := filepath.Join(root, "usr/lib/modules/7.2.13+deb14-amd64")
	os.MkdirAll(mods, 0o755)
	os.WriteFile(filepath.Join(mods, "vmlinuz"), []byte("image"), 0o644)
	if _, err := findKernel(root); err == nil || !strings.Contains(err.Error(), "pin the build's modules package too") {
		t.Errorf("image without modules: %v", err)
	}
	os.MkdirAll(filepath.Join(mods, "kernel"), 0o755)
	k, err := findKernel(root)
	if err != nil || k.Release != "7.2.13+deb14-amd64" || k.Image != filepath.Join(mods, "vmlinuz") || k.Modules != mods {
		t.Errorf("findKernel: %+v, %v", k, err)
	}
	if _, err := findKernel(t.TempDir()); err == nil || !strings.Contains(err.Error(), "packages:") {
		t.Errorf("no image (a split build pinned by its image package alone): %v", err)
	}
}
