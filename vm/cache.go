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
	"regexp"
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
// are kept, how they are recorded). Layout 3 keeps every module of the
// kernel (layout 2 kept only those an initramfs shipped) and unpacks
// packages itself. An entry's directory names its layout from 3 on, so
// that two lvslab builds sharing one cache (two checkouts) never fetch
// over each other's entries.
const cacheLayout = 3

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
	return filepath.Join(CacheDir(), fmt.Sprintf("%s-%s.v%d", spec.Name, spec.BuildID()[:12], cacheLayout))
}

// Cached returns the kernel of a list entry if it has been fetched and
// every cached file still has the SHA256 recorded when it was: the image,
// each module and depmod's indexes. It returns ErrNotCached for a kernel
// never fetched, and an error naming the file and the fix for one that
// changed, holds a file the manifest does not list or a link, or whose
// record points outside the entry.
func Cached(spec KernelSpec) (*Kernel, error) {
	dir := EntryDir(spec)
	if st, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotCached
	} else if err == nil && !st.IsDir() {
		return nil, fmt.Errorf("kernel cache %s is not a directory (a link?): remove it and run lvslab kernels fetch %s", dir, spec.Name)
	}
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
	if rec.Package != spec.PackageNames() || rec.Version != spec.VersionString() || rec.SHA256 != spec.BuildID() {
		return nil, fmt.Errorf("kernel cache %s holds %s %s (sha256 %s), not the pinned %s %s: %s",
			dir, rec.Package, rec.Version, rec.SHA256, spec.PackageNames(), spec.VersionString(), refetch)
	}
	listed, err := verifyManifest(dir)
	if err != nil {
		return nil, fmt.Errorf("kernel cache %s: %w: %s", dir, err, refetch)
	}
	// The record is a file of the cache too: what it names must be files
	// the manifest checked, so never outside the entry nor through a link.
	for _, f := range []struct{ what, file string }{{"image", rec.Image}, {"modules", filepath.Join(rec.Modules, "modules.dep")}} {
		if !filepath.IsLocal(f.file) || !listed[filepath.Clean(f.file)] {
			return nil, fmt.Errorf("kernel cache %s: %s names its %s at %q, which is not a file of the entry that %s lists: %s", dir, recordFile, f.what, f.file, manifestFile, refetch)
		}
	}
	k := rec.Kernel
	k.Image, k.Modules = filepath.Join(dir, rec.Image), filepath.Join(dir, rec.Modules)
	return &k, nil
}

// entryFiles lists every file under dir/root, relative to dir; anything
// but a regular file or a directory (a link, a device) is an error.
func entryFiles(dir string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(filepath.Join(dir, "root"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case d.Type().IsRegular():
			files = append(files, rel)
		case !d.IsDir():
			return fmt.Errorf("%s is a %s, not a file: a cache entry holds only files and directories", p, d.Type())
		}
		return nil
	})
	sort.Strings(files)
	return files, err
}

// writeManifest records the SHA256 of every file under dir/root, in
// sha256sum's format, so that a user can check an entry by hand too
// (cd DIR && sha256sum -c SHA256SUMS).
func writeManifest(dir string) error {
	files, err := entryFiles(dir)
	if err != nil {
		return err
	}
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

// verifyManifest checks that the entry holds exactly the files the
// manifest lists, each with its SHA256, and returns that set.
func verifyManifest(dir string) (map[string]bool, error) {
	f, err := os.Open(filepath.Join(dir, manifestFile))
	if err != nil {
		return nil, fmt.Errorf("no %s: %w", manifestFile, err)
	}
	defer f.Close()
	var files, want []string
	listed := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, file, ok := strings.Cut(sc.Text(), "  ")
		if !ok || len(sum) != 64 || file == "" || !filepath.IsLocal(file) || filepath.Clean(file) != file {
			return nil, fmt.Errorf("%s has a malformed line %q", manifestFile, sc.Text())
		}
		want, files = append(want, sum), append(files, file)
		listed[file] = true
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s lists no file", manifestFile)
	}
	// A file the manifest does not list could still be loaded (a module
	// found by name): every file on disk must be listed.
	present, err := entryFiles(dir)
	if err != nil {
		return nil, err
	}
	for _, p := range present {
		if !listed[p] {
			return nil, fmt.Errorf("%s is not in %s (the cache changed since lvslab fetched it)", filepath.Join(dir, p), manifestFile)
		}
	}
	got, err := hashFiles(dir, files)
	if err != nil {
		return nil, err
	}
	for i := range files {
		if got[i] != want[i] {
			return nil, fmt.Errorf("%s does not match its recorded SHA256 (the cache changed since lvslab fetched it)", filepath.Join(dir, files[i]))
		}
	}
	return listed, nil
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

// buildEntry fills dir with a verified kernel: root/ (the image and every
// module), SHA256SUMS and kernel.json.
func buildEntry(ctx context.Context, spec KernelSpec, dir string, log func(string)) error {
	debs, err := downloadDebs(ctx, spec, dir, log)
	if err != nil {
		return err
	}
	if err := checkDebs(ctx, debs); err != nil {
		return err
	}
	root := filepath.Join(dir, "root")
	if err := unpackDebs(ctx, debs, root); err != nil {
		return err
	}
	os.RemoveAll(filepath.Join(dir, "debs"))
	os.RemoveAll(filepath.Join(dir, "apt"))
	k, err := findKernel(root)
	if err != nil {
		return fmt.Errorf("%s: %w", spec.PackageNames(), err)
	}
	if err := keepUsable(root, k); err != nil {
		return err
	}
	if err := depmod(ctx, k); err != nil {
		return err
	}
	if err := writeManifest(dir); err != nil {
		return fmt.Errorf("record the cached files' SHA256: %w", err)
	}
	k.Name, k.Package, k.Version, k.SHA256 = spec.Name, spec.PackageNames(), spec.VersionString(), spec.BuildID()
	rec := cacheRecord{Layout: cacheLayout, Kernel: *k}
	rec.Image, _ = filepath.Rel(dir, k.Image)
	rec.Modules, _ = filepath.Rel(dir, k.Modules)
	data, _ := json.MarshalIndent(rec, "", "  ")
	return os.WriteFile(filepath.Join(dir, recordFile), data, 0o644)
}

// keepUsable reduces an unpacked kernel to what a VM can use: the image,
// its config and the whole modules tree of its release (any module may be
// asked for in the guest). The rest (System.map of boot/, another
// release's directory) goes.
func keepUsable(root string, k *Kernel) error {
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if p == k.Image || strings.HasPrefix(p, k.Modules+"/") || strings.HasPrefix(filepath.Base(p), "config-") {
			return nil
		}
		return os.Remove(p)
	})
	if err != nil {
		return fmt.Errorf("keep the usable files: %w", err)
	}
	return nil
}

// findKernel finds the one image of an unpacked build, at
// boot/vmlinuz-RELEASE or (Debian's 7.x split packages)
// usr/lib/modules/RELEASE/vmlinuz, and its modules directory.
func findKernel(root string) (*Kernel, error) {
	var images, releases []string
	boot, _ := filepath.Glob(filepath.Join(root, "boot", "vmlinuz-*"))
	for _, img := range boot {
		images, releases = append(images, img), append(releases, strings.TrimPrefix(filepath.Base(img), "vmlinuz-"))
	}
	for _, base := range []string{"lib/modules", "usr/lib/modules"} {
		inModules, _ := filepath.Glob(filepath.Join(root, base, "*", "vmlinuz"))
		for _, img := range inModules {
			images, releases = append(images, img), append(releases, filepath.Base(filepath.Dir(img)))
		}
	}
	if len(images) != 1 {
		return nil, fmt.Errorf("expected one kernel image (boot/vmlinuz-* or usr/lib/modules/*/vmlinuz), found %d: a build split in several packages (linux-binary-*, linux-modules-*) is pinned with packages: in the list, which lvslab kernels update fills", len(images))
	}
	release := releases[0]
	if !releaseRE.MatchString(release) {
		return nil, fmt.Errorf("kernel release %q is not a release name", release)
	}
	for _, base := range []string{"lib/modules", "usr/lib/modules"} {
		dir := filepath.Join(root, base, release)
		if _, err := os.Stat(filepath.Join(dir, "kernel")); err == nil {
			return &Kernel{Release: release, Image: images[0], Modules: dir}, nil
		}
	}
	return nil, fmt.Errorf("no modules for %s: pin the build's modules package too (linux-modules-%s)", release, release)
}

// releaseRE is a kernel release as Debian names them (6.12.117+deb12-amd64).
var releaseRE = regexp.MustCompile(`^[0-9][A-Za-z0-9.+_~-]*$`)

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
