//go:build linux

package vm

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// CacheEnv names the variable that moves lvslab's cache (fetched kernels,
// the KVM verdict) away from /var/cache/lvslab: a user without root, a CI
// cache step, or a second cache beside one in use.
const CacheEnv = "LVSLAB_CACHE"

func cacheBase() string {
	if d := os.Getenv(CacheEnv); d != "" {
		return d
	}
	return "/var/cache/lvslab"
}

// CacheDir holds the fetched kernels, outside any repository.
func CacheDir() string { return filepath.Join(cacheBase(), "kernels") }

// cacheLayout changes when what a cache entry holds changes (which modules
// are kept, how they are recorded): an entry of another layout is fetched
// again.
const cacheLayout = 2

// Files of a cache entry.
const (
	recordFile   = "kernel.json"
	manifestFile = "SHA256SUMS"
)

// ErrNotCached is Cached's answer for a kernel never fetched.
var ErrNotCached = errors.New("not cached")

// cacheRecord is an entry's kernel.json: the build it holds and where, in
// the entry, its image and modules are.
type cacheRecord struct {
	Layout int `json:"layout"`
	Kernel
	Image   string `json:"image"`
	Modules string `json:"modules"`
}

// EntryDir is where the kernel of a list entry is cached: one directory
// per build, so a re-pinned kernel never replaces the one a running VM
// boots.
func EntryDir(spec KernelSpec) string {
	return filepath.Join(CacheDir(), spec.Name+"-"+spec.SHA256[:12])
}

// Cached returns the kernel of a list entry if it has been fetched and
// every cached file still has the SHA256 recorded when it was: the image,
// each module and depmod's indexes. It returns ErrNotCached for a kernel
// never fetched, and an error naming the file and the fix for one that
// changed.
func Cached(spec KernelSpec) (*Kernel, error) {
	dir := EntryDir(spec)
	data, err := os.ReadFile(filepath.Join(dir, recordFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotCached
	}
	refetch := fmt.Sprintf("run lvslab kernels fetch --force %s (or remove %s) to fetch it again", spec.Name, dir)
	if err != nil {
		return nil, fmt.Errorf("kernel cache %s: %w: %s", dir, err, refetch)
	}
	var rec cacheRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, fmt.Errorf("kernel cache %s: %s is unreadable (%v): %s", dir, recordFile, err, refetch)
	}
	if rec.Layout != cacheLayout {
		return nil, fmt.Errorf("kernel cache %s was written by another version of lvslab (layout %d, this one reads %d): %s", dir, rec.Layout, cacheLayout, refetch)
	}
	if rec.Package != spec.Package || rec.Version != spec.Version || rec.SHA256 != spec.SHA256 {
		return nil, fmt.Errorf("kernel cache %s holds %s %s (sha256 %s), not the pinned %s %s: %s",
			dir, rec.Package, rec.Version, rec.SHA256, spec.Package, spec.Version, refetch)
	}
	if err := verifyManifest(dir); err != nil {
		return nil, fmt.Errorf("kernel cache %s: %w: %s", dir, err, refetch)
	}
	k := rec.Kernel
	k.Image, k.Modules = filepath.Join(dir, rec.Image), filepath.Join(dir, rec.Modules)
	return &k, nil
}

// writeManifest records the SHA256 of every file under dir/root, in
// sha256sum's format, so that a user can check an entry by hand too
// (cd DIR && sha256sum -c SHA256SUMS).
func writeManifest(dir string) error {
	var files []string
	err := filepath.WalkDir(filepath.Join(dir, "root"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(files)
	sums, err := hashFiles(dir, files)
	if err != nil {
		return err
	}
	var b strings.Builder
	for i, f := range files {
		fmt.Fprintf(&b, "%s  %s\n", sums[i], f)
	}
	return os.WriteFile(filepath.Join(dir, manifestFile), []byte(b.String()), 0o644)
}

// verifyManifest checks every file the manifest lists.
func verifyManifest(dir string) error {
	f, err := os.Open(filepath.Join(dir, manifestFile))
	if err != nil {
		return fmt.Errorf("no %s: %w", manifestFile, err)
	}
	defer f.Close()
	var files, want []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, file, ok := strings.Cut(sc.Text(), "  ")
		if !ok || len(sum) != 64 || file == "" || strings.Contains(file, "..") {
			return fmt.Errorf("%s has a malformed line %q", manifestFile, sc.Text())
		}
		want, files = append(want, sum), append(files, file)
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("%s lists no file", manifestFile)
	}
	got, err := hashFiles(dir, files)
	if err != nil {
		return err
	}
	for i := range files {
		if got[i] != want[i] {
			return fmt.Errorf("%s does not match its recorded SHA256 (the cache changed since lvslab fetched it)", filepath.Join(dir, files[i]))
		}
	}
	return nil
}

// hashFiles hashes files (relative to dir) on every CPU: a cache entry is
// checked on each use, so its ~50 MB should take well under a second.
// A file that is not a regular file (a symlink put in its place) fails.
func hashFiles(dir string, files []string) ([]string, error) {
	sums := make([]string, len(files))
	errs := make([]error, len(files))
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < runtime.NumCPU(); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				sums[i], errs[i] = hashFile(filepath.Join(dir, files[i]))
			}
		}()
	}
	for i := range files {
		next <- i
	}
	close(next)
	wg.Wait()
	return sums, errors.Join(errs...)
}

func hashFile(p string) (string, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return "", fmt.Errorf("%s: %w", p, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("%s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// FetchOptions say how Fetch works.
type FetchOptions struct {
	// Force fetches again a kernel already cached, or one whose cache
	// entry changed.
	Force bool
	// Log receives one line per step.
	Log func(string)
}

// Fetch returns the cached kernel of a list entry, fetching it first when
// it is not cached: the pinned .deb through lvslab's own apt
// configuration, checked against its SHA256, unpacked, reduced to the
// modules the VM can load, indexed with depmod and recorded. The entry is
// built in a temporary directory and renamed into place while holding a
// lock, so that two lvslab started together fetch it once and both use it.
// A cached kernel whose files changed is refused, unless opt.Force.
func Fetch(ctx context.Context, spec KernelSpec, opt FetchOptions) (*Kernel, error) {
	log := opt.Log
	if log == nil {
		log = func(string) {}
	}
	if !opt.Force {
		if k, err := Cached(spec); !errors.Is(err, ErrNotCached) {
			return k, err
		}
	}
	if err := os.MkdirAll(CacheDir(), 0o755); err != nil {
		return nil, fmt.Errorf("create the kernel cache: %w (set %s to a folder you can write)", err, CacheEnv)
	}
	dir := EntryDir(spec)
	unlock, err := lockEntry(ctx, dir, log)
	if err != nil {
		return nil, err
	}
	defer unlock()
	// Another lvslab may have fetched it while this one waited.
	if k, err := Cached(spec); err == nil || (!opt.Force && !errors.Is(err, ErrNotCached)) {
		if err == nil && opt.Force {
			log(fmt.Sprintf("kernel %s is cached and verified: fetching it again (--force)", spec.Name))
		} else {
			return k, err
		}
	}
	// Leftovers of a fetch that was killed: nobody else builds this entry
	// while the lock is held.
	stale, _ := filepath.Glob(filepath.Join(CacheDir(), ".tmp-"+filepath.Base(dir)+"-*"))
	for _, s := range stale {
		os.RemoveAll(s)
	}
	tmp, err := os.MkdirTemp(CacheDir(), ".tmp-"+filepath.Base(dir)+"-")
	if err != nil {
		return nil, fmt.Errorf("fetch kernel %s: %w", spec.Name, err)
	}
	defer os.RemoveAll(tmp)
	if err := buildEntry(ctx, spec, tmp, log); err != nil {
		return nil, fmt.Errorf("fetch kernel %s: %w", spec.Name, err)
	}
	// MkdirTemp made it private; a cache is read by anyone (a CI cache step).
	if err := os.Chmod(tmp, 0o755); err != nil {
		return nil, err
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("replace %s: %w", dir, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return nil, fmt.Errorf("fetch kernel %s: %w", spec.Name, err)
	}
	log(fmt.Sprintf("kernel %s cached in %s", spec.Name, dir))
	return Cached(spec)
}

// lockEntry takes the entry's lock, waiting (and saying so) while another
// lvslab holds it.
func lockEntry(ctx context.Context, dir string, log func(string)) (func(), error) {
	f, err := os.OpenFile(dir+".lock", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		log(fmt.Sprintf("waiting for another lvslab that is fetching into %s", dir))
		done := make(chan error, 1)
		go func() { done <- unix.Flock(int(f.Fd()), unix.LOCK_EX) }()
		select {
		case err = <-done:
		case <-ctx.Done():
			f.Close() // the waiting goroutine's flock fails with EBADF
			return nil, ctx.Err()
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", dir, err)
		}
	}
	return func() { f.Close() }, nil
}

// buildEntry fills dir with a verified kernel: root/ (the image and the
// modules), SHA256SUMS and kernel.json.
func buildEntry(ctx context.Context, spec KernelSpec, dir string, log func(string)) error {
	deb, err := downloadDeb(ctx, spec, dir, log)
	if err != nil {
		return err
	}
	root := filepath.Join(dir, "root")
	if out, err := runTool(ctx, "dpkg-deb", "-x", deb, root); err != nil {
		return fmt.Errorf("unpack %s: %v: %s (is dpkg installed?)", filepath.Base(deb), err, lastLine(out))
	}
	os.Remove(deb)
	os.RemoveAll(filepath.Join(dir, "apt"))
	k, err := findKernel(root)
	if err != nil {
		return fmt.Errorf("package %s: %w", spec.Package, err)
	}
	if err := keepUsable(ctx, root, k); err != nil {
		return err
	}
	if err := writeManifest(dir); err != nil {
		return fmt.Errorf("record the cached files' SHA256: %w", err)
	}
	k.Name, k.Package, k.Version, k.SHA256 = spec.Name, spec.Package, spec.Version, spec.SHA256
	rec := cacheRecord{Layout: cacheLayout, Kernel: *k}
	rec.Image, _ = filepath.Rel(dir, k.Image)
	rec.Modules, _ = filepath.Rel(dir, k.Modules)
	data, _ := json.MarshalIndent(rec, "", "  ")
	return os.WriteFile(filepath.Join(dir, recordFile), data, 0o644)
}

// keepUsable reduces an unpacked kernel package to what a VM can use: the
// image, its config and the modules an initramfs of lvslab ships (with
// their dependencies), indexed by depmod. A kernel's other thousands of
// drivers are never loaded in the VM, and checking them on every use would
// cost seconds.
func keepUsable(ctx context.Context, root string, k *Kernel) error {
	if err := depmod(ctx, k); err != nil {
		return err
	}
	ix, err := ReadModuleIndex(k.Modules)
	if err != nil {
		return err
	}
	keep, err := shippedModules(ix, k.Release)
	if err != nil {
		return err
	}
	wanted := map[string]bool{}
	for _, m := range keep {
		wanted[ix.Files[m]] = true
	}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if rel, inModules := strings.CutPrefix(p, k.Modules+"/"); inModules {
			if isModuleFile(rel) && !wanted[rel] {
				return os.Remove(p)
			}
			return nil
		}
		if p == k.Image || strings.HasPrefix(filepath.Base(p), "config-") {
			return nil
		}
		return os.Remove(p)
	})
	if err != nil {
		return fmt.Errorf("keep the usable modules: %w", err)
	}
	return depmod(ctx, k)
}

func isModuleFile(p string) bool {
	for _, ext := range []string{".ko", ".ko.xz", ".ko.zst", ".ko.gz"} {
		if strings.HasSuffix(p, ext) {
			return true
		}
	}
	return false
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
func depmod(ctx context.Context, k *Kernel) error {
	base := strings.TrimSuffix(k.Modules, filepath.Join("lib", "modules", k.Release))
	out, err := runTool(ctx, "depmod", "-b", base, k.Release)
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

func jsonIndent(v any) ([]byte, error) { return json.MarshalIndent(v, "", "  ") }
