package vm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/lvslab/lvslab/fixtures"
)

// CacheRoot holds fetched kernels, outside any repository.
var CacheRoot = "/var/cache/lvslab/kernels"

// KernelSpec is one entry of the kernel list.
type KernelSpec struct {
	Name    string `yaml:"name"`
	Package string `yaml:"package"`
	About   string `yaml:"about"`
}

// KernelList is a kernel list: the one shipped in lvslab
// (fixtures/kernels.yaml) or a user's own.
type KernelList struct {
	Default string       `yaml:"default"`
	Kernels []KernelSpec `yaml:"kernels"`
}

// LoadKernels reads a kernel list file, or the shipped one when path is
// empty.
func LoadKernels(path string) (*KernelList, error) {
	data := fixtures.Kernels()
	if path != "" {
		var err error
		if data, err = os.ReadFile(path); err != nil {
			return nil, fmt.Errorf("read kernel list: %w", err)
		}
	} else {
		path = fixtures.KernelsFile
	}
	return parseKernels(data, path)
}

func parseKernels(data []byte, path string) (*KernelList, error) {
	var l KernelList
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&l); err != nil {
		return nil, fmt.Errorf("kernel list %s: %w", path, err)
	}
	for i, k := range l.Kernels {
		if k.Name == "" || k.Package == "" {
			return nil, fmt.Errorf("kernel list %s: entry %d needs name and package", path, i+1)
		}
	}
	if _, err := l.Find(l.Default); err != nil {
		return nil, fmt.Errorf("kernel list %s: default: %w", path, err)
	}
	return &l, nil
}

// Find returns the kernel of that name.
func (l *KernelList) Find(name string) (KernelSpec, error) {
	var names []string
	for _, k := range l.Kernels {
		if k.Name == name {
			return k, nil
		}
		names = append(names, k.Name)
	}
	return KernelSpec{}, fmt.Errorf("kernel %q is not in the list: use one of %s, or --kernel-image/--modules", name, strings.Join(names, ", "))
}

// Select picks the kernel of that name (the list's default when empty),
// or every kernel when all is set.
func (l *KernelList) Select(name string, all bool) ([]KernelSpec, error) {
	if all {
		return l.Kernels, nil
	}
	if name == "" {
		name = l.Default
	}
	k, err := l.Find(name)
	if err != nil {
		return nil, err
	}
	return []KernelSpec{k}, nil
}

// CustomKernel is a kernel of the user's own build: a bzImage and its
// modules directory (lib/modules/RELEASE, after depmod).
func CustomKernel(image, modules string) (*Kernel, error) {
	if modules == "" {
		return nil, errors.New("--kernel-image needs --modules DIR (its lib/modules/RELEASE directory)")
	}
	if _, err := os.Stat(image); err != nil {
		return nil, fmt.Errorf("kernel image: %w", err)
	}
	if _, err := os.Stat(filepath.Join(modules, "modules.dep")); err != nil {
		return nil, fmt.Errorf("%s has no modules.dep: run depmod -b BASE RELEASE first", modules)
	}
	return &Kernel{Name: "custom", Release: filepath.Base(filepath.Clean(modules)), Image: image, Modules: modules}, nil
}

// Kernel is a kernel ready to boot: its image and its modules tree
// (a directory holding modules.dep, after depmod).
type Kernel struct {
	Name    string `json:"name"`
	Release string `json:"release"`
	Image   string `json:"image"`
	Modules string `json:"modules"`
	Package string `json:"package"`
}

// Cached returns the kernel if it has been fetched.
func Cached(name string) (*Kernel, bool) {
	data, err := os.ReadFile(filepath.Join(CacheRoot, name, "kernel.json"))
	if err != nil {
		return nil, false
	}
	var k Kernel
	if json.Unmarshal(data, &k) != nil {
		return nil, false
	}
	if _, err := os.Stat(k.Image); err != nil {
		return nil, false
	}
	return &k, true
}

// Fetch downloads a kernel package with apt-get, extracts its image and
// modules into the cache and runs depmod. A kernel already cached is
// returned as is.
func Fetch(ctx context.Context, spec KernelSpec, log func(string)) (*Kernel, error) {
	if k, ok := Cached(spec.Name); ok {
		return k, nil
	}
	pkg, err := resolvePackage(ctx, spec.Package)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(CacheRoot, spec.Name)
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("clear %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create kernel cache: %w", err)
	}
	log(fmt.Sprintf("fetching kernel %s (package %s)", spec.Name, pkg))
	dl := exec.CommandContext(ctx, "apt-get", "download", "-q", pkg)
	dl.Dir = dir
	if out, err := dl.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("fetch kernel %s: apt-get download %s failed (%v): %s", spec.Name, pkg, err, lastLine(out))
	}
	debs, _ := filepath.Glob(filepath.Join(dir, "*.deb"))
	if len(debs) != 1 {
		return nil, fmt.Errorf("fetch kernel %s: apt-get download %s left %d .deb files", spec.Name, pkg, len(debs))
	}
	root := filepath.Join(dir, "root")
	if out, err := exec.CommandContext(ctx, "dpkg-deb", "-x", debs[0], root).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("unpack %s: %v: %s", debs[0], err, lastLine(out))
	}
	os.Remove(debs[0])
	k, err := findKernel(root)
	if err != nil {
		return nil, fmt.Errorf("package %s: %w", pkg, err)
	}
	k.Name, k.Package = spec.Name, pkg
	if err := depmod(ctx, root, k); err != nil {
		return nil, err
	}
	data, _ := json.MarshalIndent(k, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "kernel.json"), data, 0o644); err != nil {
		return nil, fmt.Errorf("record kernel %s: %w", spec.Name, err)
	}
	return k, nil
}

// resolvePackage follows a metapackage (linux-image-amd64) to the
// linux-image package it depends on, updating apt's lists once if they
// do not know it.
func resolvePackage(ctx context.Context, pkg string) (string, error) {
	for attempt := 0; attempt < 2; attempt++ {
		out, err := exec.CommandContext(ctx, "apt-cache", "depends", pkg).Output()
		if err == nil {
			for _, line := range strings.Split(string(out), "\n") {
				f := strings.Fields(line)
				if len(f) == 2 && f[0] == "Depends:" && strings.HasPrefix(f[1], "linux-image-") && !strings.HasSuffix(f[1], "-amd64-unsigned") {
					return f[1], nil
				}
			}
			if showsImage(ctx, pkg) {
				return pkg, nil
			}
		}
		if attempt == 0 {
			if out, err := exec.CommandContext(ctx, "apt-get", "update", "-qq").CombinedOutput(); err != nil {
				return "", fmt.Errorf("kernel package %s: apt-get update failed (%v): %s", pkg, err, lastLine(out))
			}
		}
	}
	return "", fmt.Errorf("kernel package %s is not known to apt (apt-cache depends %s found no linux-image package): check the kernel list or your apt sources", pkg, pkg)
}

// showsImage reports whether pkg itself ships a kernel image.
func showsImage(ctx context.Context, pkg string) bool {
	out, err := exec.CommandContext(ctx, "apt-cache", "show", pkg).Output()
	return err == nil && bytes.Contains(out, []byte("Package: "+pkg))
}

func findKernel(root string) (*Kernel, error) {
	images, _ := filepath.Glob(filepath.Join(root, "boot", "vmlinuz-*"))
	if len(images) != 1 {
		return nil, fmt.Errorf("expected one boot/vmlinuz-*, found %d", len(images))
	}
	release := strings.TrimPrefix(filepath.Base(images[0]), "vmlinuz-")
	for _, base := range []string{"lib/modules", "usr/lib/modules"} {
		dir := filepath.Join(root, base, release)
		if _, err := os.Stat(dir); err == nil {
			return &Kernel{Release: release, Image: images[0], Modules: dir}, nil
		}
	}
	return nil, fmt.Errorf("no modules for %s", release)
}

// depmod writes modules.dep, modules.alias and modules.softdep, which the
// package leaves to its postinst.
func depmod(ctx context.Context, root string, k *Kernel) error {
	base := strings.TrimSuffix(k.Modules, filepath.Join("lib", "modules", k.Release))
	out, err := exec.CommandContext(ctx, "depmod", "-b", base, k.Release).CombinedOutput()
	if err != nil {
		return fmt.Errorf("depmod for %s: %v: %s (is package kmod installed?)", k.Release, err, lastLine(out))
	}
	if _, err := os.Stat(filepath.Join(k.Modules, "modules.dep")); err != nil {
		return fmt.Errorf("depmod for %s wrote no modules.dep in %s", k.Release, k.Modules)
	}
	return nil
}

func lastLine(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1]
}
