//go:build linux

package vm

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testList = `# comment kept
default: k1
kernels:
  - name: k1
    about: a kernel
    metapackage: linux-image-amd64
    archive: http://deb.debian.org/debian-security
    suite: bookworm-security
    package: linux-image-6.1.0-56-amd64
    version: 6.1.192-2
    sha256: a86e2049672f52354c4536a089203b6c82639420424d31c91cf31a181fd4d8f1
`

func TestKernelListRefusesUnpinnedAndMalformedEntries(t *testing.T) {
	if _, err := parseKernels([]byte(testList), "k.yaml"); err != nil {
		t.Fatal(err)
	}
	bad := strings.NewReplacer("name: k1", "name: K1/..", "version: 6.1.192-2", "version: latest",
		"sha256: a86e", "sha256: A86E", "archive: http://", "archive: ftp://").Replace(testList)
	_, err := parseKernels([]byte(bad), "k.yaml")
	if err == nil {
		t.Fatal("a malformed entry was accepted")
	}
	for _, want := range []string{"kernel list k.yaml: entry 1", `kernel name "K1/..": use lower-case letters`, `version "latest" is not a Debian version`,
		"is not the .deb's SHA256 in 64 lower-case hex digits", "is not an http(s) URL", "lvslab kernels update fills"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
	unpinned := "default: k1\nkernels:\n  - {name: k1, package: linux-image-amd64, archive: 'http://deb.debian.org/debian', suite: bookworm}\n"
	if _, err := parseKernels([]byte(unpinned), "k.yaml"); err == nil || !strings.Contains(err.Error(), "version is missing") || !strings.Contains(err.Error(), "sha256 is missing") {
		t.Errorf("an entry without version and sha256: %v", err)
	}
	for _, name := range []string{"debian-6.1", "6.12", "a"} {
		if err := CheckKernelName(name); err != nil {
			t.Error(err)
		}
	}
	for _, name := range []string{"", "-x", "Debian", "a b", "../x", "a_b"} {
		if CheckKernelName(name) == nil {
			t.Errorf("kernel name %q accepted", name)
		}
	}
}

// fakeEntry writes a cache entry for spec as Fetch would.
func fakeEntry(t *testing.T, spec KernelSpec) string {
	t.Helper()
	dir := EntryDir(spec)
	mods := filepath.Join(dir, "root/lib/modules/6.1.0-56-amd64")
	os.MkdirAll(filepath.Join(mods, "kernel/net/netfilter/ipvs"), 0o755)
	os.MkdirAll(filepath.Join(dir, "root/boot"), 0o755)
	os.WriteFile(filepath.Join(dir, "root/boot/vmlinuz-6.1.0-56-amd64"), []byte("image"), 0o644)
	os.WriteFile(filepath.Join(mods, "kernel/net/netfilter/ipvs/ip_vs.ko"), []byte("module"), 0o644)
	os.WriteFile(filepath.Join(mods, "modules.dep"), []byte("kernel/net/netfilter/ipvs/ip_vs.ko:\n"), 0o644)
	if err := writeManifest(dir); err != nil {
		t.Fatal(err)
	}
	rec := cacheRecord{Layout: cacheLayout, Kernel: Kernel{Name: spec.Name, Release: "6.1.0-56-amd64", Package: spec.Package, Version: spec.Version, SHA256: spec.SHA256},
		Image: "root/boot/vmlinuz-6.1.0-56-amd64", Modules: "root/lib/modules/6.1.0-56-amd64"}
	data, _ := jsonIndent(rec)
	os.WriteFile(filepath.Join(dir, recordFile), data, 0o644)
	return dir
}

func TestCacheChecksImageAndModulesOnEveryUse(t *testing.T) {
	t.Setenv(CacheEnv, t.TempDir())
	l, _ := parseKernels([]byte(testList), "k.yaml")
	spec := l.Kernels[0]
	if _, err := Cached(spec); !errors.Is(err, ErrNotCached) {
		t.Fatalf("empty cache: %v", err)
	}
	dir := fakeEntry(t, spec)
	k, err := Cached(spec)
	if err != nil {
		t.Fatal(err)
	}
	if k.Image != filepath.Join(dir, "root/boot/vmlinuz-6.1.0-56-amd64") || k.Version != "6.1.192-2" {
		t.Errorf("cached kernel %+v", k)
	}
	module := filepath.Join(k.Modules, "kernel/net/netfilter/ipvs/ip_vs.ko")
	os.WriteFile(module, []byte("modulE"), 0o644)
	_, err = Cached(spec)
	if err == nil || !strings.Contains(err.Error(), module+" does not match its recorded SHA256") ||
		!strings.Contains(err.Error(), "run lvslab kernels fetch --force k1") {
		t.Errorf("a changed module must be refused, naming the file and the fix: %v", err)
	}
	os.WriteFile(module, []byte("module"), 0o644)
	os.WriteFile(k.Image, []byte("imagE"), 0o644)
	if _, err := Cached(spec); err == nil || !strings.Contains(err.Error(), "vmlinuz-6.1.0-56-amd64 does not match") {
		t.Errorf("a changed image must be refused: %v", err)
	}
	os.WriteFile(k.Image, []byte("image"), 0o644)
	other := spec
	other.Version = "6.1.193-1"
	if _, err := Cached(other); err == nil || !strings.Contains(err.Error(), "not the pinned linux-image-6.1.0-56-amd64 6.1.193-1") {
		t.Errorf("an entry of another version: %v", err)
	}
}

func TestFetchWaitsForTheLock(t *testing.T) {
	t.Setenv(CacheEnv, t.TempDir())
	os.MkdirAll(CacheDir(), 0o755)
	dir := filepath.Join(CacheDir(), "k1-x")
	unlock, err := lockEntry(t.Context(), dir, func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	waiting := make(chan string, 1)
	got := make(chan error)
	go func() {
		u, err := lockEntry(t.Context(), dir, func(s string) { waiting <- s })
		if err == nil {
			u()
		}
		got <- err
	}()
	if said := <-waiting; !strings.Contains(said, "waiting for another lvslab") {
		t.Errorf("a fetch waiting for the lock said %q", said)
	}
	select {
	case <-got:
		t.Fatal("a second fetch took the lock while the first held it")
	default:
	}
	unlock()
	if err := <-got; err != nil {
		t.Errorf("second lock: %v", err)
	}
}

func TestNotInArchiveNamesTheWaysOut(t *testing.T) {
	l, _ := parseKernels([]byte(testList), "k.yaml")
	err := notInArchive(l.Kernels[0], l.Kernels[0].Debs()[0]).Error()
	for _, want := range []string{"6.1.192-2 is no longer in http://deb.debian.org/debian-security bookworm-security",
		"https://snapshot.debian.org/archive/debian-security/", "lvslab kernels update", "--kernel-image/--modules"} {
		if !strings.Contains(err, want) {
			t.Errorf("error does not say %q: %s", want, err)
		}
	}
}

func TestWritePinsKeepsCommentsAndChecksTheResult(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kernels.yaml")
	os.WriteFile(path, []byte(testList), 0o644)
	l, _ := LoadKernels(path)
	p := Pin{Name: "k1", Old: l.Kernels[0], New: l.Kernels[0]}
	p.New.Package, p.New.Version, p.New.SHA256 = "linux-image-6.1.0-57-amd64", "6.1.200-1", strings.Repeat("b", 64)
	if err := WritePins(path, []Pin{p}); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	l2, err := LoadKernels(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := l2.Kernels[0]; got.Version != "6.1.200-1" || got.Package != p.New.Package || got.SHA256 != p.New.SHA256 || got.Metapackage != "linux-image-amd64" {
		t.Errorf("re-pinned entry %+v", got)
	}
	if !strings.Contains(string(data), "# comment kept") {
		t.Errorf("comments lost:\n%s", data)
	}
}

// kernel.json is a file of the cache like any other: what it names must be
// files the manifest checked, inside the entry.
func TestCacheRefusesARecordPointingOutside(t *testing.T) {
	t.Setenv(CacheEnv, t.TempDir())
	l, _ := parseKernels([]byte(testList), "k.yaml")
	spec := l.Kernels[0]
	dir := fakeEntry(t, spec)
	var rec cacheRecord
	data, _ := os.ReadFile(filepath.Join(dir, recordFile))
	json.Unmarshal(data, &rec)
	for _, c := range []struct{ image, modules, want string }{
		{"../../../boot/vmlinuz-6.1.0-56-amd64", rec.Modules, `names its image at "../../../boot/vmlinuz-6.1.0-56-amd64"`},
		{rec.Image, "../../etc", `names its modules at "../../etc/modules.dep"`},
		{"root/lib/modules/6.1.0-56-amd64", rec.Modules, "names its image at"}, // a directory, not a checked file
	} {
		bad := rec
		bad.Image, bad.Modules = c.image, c.modules
		data, _ := jsonIndent(bad)
		os.WriteFile(filepath.Join(dir, recordFile), data, 0o644)
		if _, err := Cached(spec); err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "fetch --force k1") {
			t.Errorf("record %s / %s: %v; want a refusal saying %q", c.image, c.modules, err, c.want)
		}
	}
}

// Every file that can be loaded is checked: one added beside the modules,
// or a link in place of a directory, is refused.
func TestCacheRefusesFilesTheManifestDoesNotList(t *testing.T) {
	t.Setenv(CacheEnv, t.TempDir())
	l, _ := parseKernels([]byte(testList), "k.yaml")
	spec := l.Kernels[0]
	dir := fakeEntry(t, spec)
	extra := filepath.Join(dir, "root/lib/modules/6.1.0-56-amd64/kernel/net/netfilter/ipvs/evil.ko")
	os.WriteFile(extra, []byte("x"), 0o644)
	if _, err := Cached(spec); err == nil || !strings.Contains(err.Error(), extra+" is not in SHA256SUMS") {
		t.Errorf("an extra module: %v", err)
	}
	os.Remove(extra)
	link := filepath.Join(dir, "root/lib/modules/6.1.0-56-amd64/kernel/net/sched")
	os.Symlink("/etc", link)
	if _, err := Cached(spec); err == nil || !strings.Contains(err.Error(), "a cache entry holds only files and directories") {
		t.Errorf("a link in the modules tree: %v", err)
	}
}

const splitEntry = `  - name: k2
    moving: true
    metapackage: linux-image-amd64
    archive: http://deb.debian.org/debian
    suite: sid
    packages:
      - package: linux-binary-7.2.13+deb14-amd64
        version: 7.2.13-1
        sha256: fb8cd0ade4ef82d9dde1dcf183d4bf4033db1b549b0acc9973855ad9cc48c4f5
      - package: linux-modules-7.2.13+deb14-amd64
        version: 7.2.13-1
        sha256: a37a3d200915c4cf524e90c81bbb2a8b683d292cd00873e89c23b2ef32b1bf11
`

func TestASplitBuildPinsEachPackage(t *testing.T) {
	l, err := parseKernels([]byte(testList+splitEntry), "k.yaml")
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := l.Find("k2")
	if len(k2.Debs()) != 2 || k2.PackageNames() != "linux-binary-7.2.13+deb14-amd64, linux-modules-7.2.13+deb14-amd64" || k2.VersionString() != "7.2.13-1" {
		t.Errorf("split entry: %+v", k2)
	}
	// Another modules package is another build: another cache entry.
	other := k2
	other.Packages = append([]DebPin{}, k2.Packages...)
	other.Packages[1].SHA256 = strings.Repeat("c", 64)
	if k2.BuildID() == other.BuildID() || EntryDir(k2) == EntryDir(other) {
		t.Error("a change of one package must change the build's id and cache entry")
	}
	if k1, _ := l.Find("k1"); k1.BuildID() != k1.SHA256 {
		t.Error("a one-package entry's build id is its .deb's SHA256")
	}
	both := strings.Replace(testList+splitEntry, "    moving: true\n", "    moving: true\n    package: linux-image-7.2.13+deb14-amd64\n", 1)
	if _, err := parseKernels([]byte(both), "k.yaml"); err == nil || !strings.Contains(err.Error(), "not both") {
		t.Errorf("package and packages together: %v", err)
	}
	bad := strings.Replace(testList+splitEntry, "sha256: a37a3d", "sha256: zz", 1)
	if _, err := parseKernels([]byte(bad), "k.yaml"); err == nil || !strings.Contains(err.Error(), "packages[1].sha256") {
		t.Errorf("a malformed part: %v", err)
	}
	if err := notInArchive(k2, k2.Packages[1]).Error(); !strings.Contains(err, "k2 is a moving entry") || !strings.Contains(err, "lvslab kernels update --write --kernels k.yaml k2") {
		t.Errorf("a moving entry's version gone must show the one-line fix: %s", err)
	}
}

func TestBuildPartsFollowsTheImagesOwnABI(t *testing.T) {
	depends := "dracut | initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool, linux-base-7.2.13+deb14-amd64 (= 7.2.13-1), " +
		"linux-binary-7.2.13+deb14-amd64 (= 7.2.13-1), linux-modules-7.2.13+deb14-amd64 (= 7.2.13-1), kmod"
	got := buildParts("linux-image-7.2.13+deb14-amd64", depends)
	want := []string{"linux-base-7.2.13+deb14-amd64", "linux-binary-7.2.13+deb14-amd64", "linux-modules-7.2.13+deb14-amd64"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("parts %v, want %v", got, want)
	}
	// A 6.x image holds its kernel: its dependencies are tools, not parts.
	if got := buildParts("linux-image-6.1.0-56-amd64", "kmod, linux-base (>= 4.3~), initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool"); len(got) != 0 {
		t.Errorf("one-package build: parts %v", got)
	}
}

// Debian changing a kernel's form (one package to several) re-pins the
// entry in the new form, comments kept.
func TestWritePinsChangesTheForm(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kernels.yaml")
	os.WriteFile(path, []byte(testList), 0o644)
	l, _ := LoadKernels(path)
	p := Pin{Name: "k1", Old: l.Kernels[0], New: l.Kernels[0]}
	p.New.Package, p.New.Version, p.New.SHA256 = "", "", ""
	p.New.Packages = []DebPin{{"linux-binary-7.2.13+deb14-amd64", "7.2.13-1", strings.Repeat("a", 64)}, {"linux-modules-7.2.13+deb14-amd64", "7.2.13-1", strings.Repeat("b", 64)}}
	if err := WritePins(path, []Pin{p}); err != nil {
		t.Fatal(err)
	}
	l2, err := LoadKernels(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := l2.Kernels[0]; got.Package != "" || got.BuildID() != p.New.BuildID() || got.Suite != "bookworm-security" {
		t.Errorf("re-pinned entry %+v", got)
	}
	data, _ := os.ReadFile(path)
	if !strings.Contains(string(data), "# comment kept") {
		t.Errorf("comments lost:\n%s", data)
	}
	// And back.
	p2 := Pin{Name: "k1", Old: l2.Kernels[0], New: l.Kernels[0]}
	if err := WritePins(path, []Pin{p2}); err != nil {
		t.Fatal(err)
	}
	if l3, err := LoadKernels(path); err != nil || l3.Kernels[0].SHA256 != l.Kernels[0].SHA256 || len(l3.Kernels[0].Packages) != 0 {
		t.Errorf("back to one package: %+v, %v", l3.Kernels[0], err)
	}
}
