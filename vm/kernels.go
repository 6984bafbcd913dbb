//go:build linux

package vm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/lvslab/lvslab/fixtures"
)

// KernelSpec is one entry of the kernel list: one build of a Debian
// kernel, pinned by version and by the SHA256 of each .deb. A build is one
// package (Package, Version, SHA256: linux-image-R holds the image and the
// modules) or, from Debian's 7.x kernels on, several (Packages: linux-binary-R
// holds the image, linux-modules-R the modules, linux-base-R the config and
// modules.builtin; linux-image-R only depends on them).
type KernelSpec struct {
	Name  string `yaml:"name"`
	About string `yaml:"about,omitempty"`
	// Archive and Suite are where the package is fetched from: a Debian
	// archive (or a dated snapshot of one) and its suite.
	Archive  string   `yaml:"archive"`
	Suite    string   `yaml:"suite"`
	Package  string   `yaml:"package,omitempty"`
	Version  string   `yaml:"version,omitempty"`
	SHA256   string   `yaml:"sha256,omitempty"`
	Packages []DebPin `yaml:"packages,omitempty"`
	// Metapackage is what "lvslab kernels update" follows to re-pin the
	// entry (linux-image-amd64); it is never resolved at test time.
	Metapackage string `yaml:"metapackage,omitempty"`
	// Moving marks an entry of a suite that replaces its kernel every few
	// weeks (sid): its pin breaks when the archive drops that version, and
	// nothing that must pass (CI's default job) depends on it.
	Moving bool `yaml:"moving,omitempty"`
	// Keyring verifies the archive's Release file (default: Debian's
	// archive keyring, package debian-archive-keyring).
	Keyring string `yaml:"keyring,omitempty"`
	// List is the file the entry was read from, for messages.
	List string `yaml:"-"`
}

// DebPin is one .deb of a build: its package, version and SHA256.
type DebPin struct {
	Package string `yaml:"package"`
	Version string `yaml:"version"`
	SHA256  string `yaml:"sha256"`
}

// Debs are the packages of the entry's build, in either form.
func (s KernelSpec) Debs() []DebPin {
	if len(s.Packages) > 0 {
		return s.Packages
	}
	return []DebPin{{Package: s.Package, Version: s.Version, SHA256: s.SHA256}}
}

// BuildID names the build in one hex string: the .deb's SHA256 for a
// single package, else the SHA256 of the packages' SHA256s in list order,
// so that a change of any one package changes it.
func (s KernelSpec) BuildID() string {
	if len(s.Packages) == 0 {
		return s.SHA256
	}
	h := sha256.New()
	for _, p := range s.Packages {
		fmt.Fprintln(h, p.SHA256)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// PackageNames is the build's packages in one line, for lists and records.
func (s KernelSpec) PackageNames() string {
	var names []string
	for _, p := range s.Debs() {
		names = append(names, p.Package)
	}
	return strings.Join(names, ", ")
}

// VersionString is the build's version, or each package's when they differ.
func (s KernelSpec) VersionString() string {
	debs := s.Debs()
	var vs []string
	for _, p := range debs {
		if !slices.Contains(vs, p.Version) {
			vs = append(vs, p.Version)
		}
	}
	return strings.Join(vs, ", ")
}

// DefaultKeyring is where the debian-archive-keyring package, on Debian
// and Ubuntu alike, puts Debian's archive keys.
const DefaultKeyring = "/usr/share/keyrings/debian-archive-keyring.gpg"

// keyring is the key file that verifies the spec's archive.
func (s KernelSpec) keyring() string {
	if s.Keyring != "" {
		return s.Keyring
	}
	return DefaultKeyring
}

// KernelList is a kernel list: the one shipped in lvslab
// (fixtures/kernels.yaml) or a user's own.
type KernelList struct {
	Default string       `yaml:"default"`
	Kernels []KernelSpec `yaml:"kernels"`
	// File is where the list was read from, for messages.
	File string `yaml:"-"`
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

// The forms of a kernel list's fields. Names become cache directories and
// reach apt's command line, so they are held to what Debian allows.
var (
	kernelNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]*$`)
	packageRE    = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)
	versionRE    = regexp.MustCompile(`^[0-9][A-Za-z0-9.+~:-]*$`)
	suiteRE      = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]*$`)
	sha256RE     = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// CheckKernelName refuses a kernel name that could not be a list entry.
func CheckKernelName(name string) error {
	if !kernelNameRE.MatchString(name) {
		return fmt.Errorf("kernel name %q: use lower-case letters, digits, dots and dashes, starting with a letter or digit (like debian-6.1)", name)
	}
	return nil
}

func parseKernels(data []byte, path string) (*KernelList, error) {
	var l KernelList
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&l); err != nil {
		return nil, fmt.Errorf("kernel list %s: %w", path, err)
	}
	l.File = path
	for i := range l.Kernels {
		l.Kernels[i].List = path
	}
	seen := map[string]bool{}
	var errs []error
	for i, k := range l.Kernels {
		if err := k.check(); err != nil {
			errs = append(errs, fmt.Errorf("kernel list %s: entry %d (%s): %w", path, i+1, k.Name, err))
		}
		if seen[k.Name] {
			errs = append(errs, fmt.Errorf("kernel list %s: entry %d: the name %s is used twice: give each entry its own", path, i+1, k.Name))
		}
		seen[k.Name] = true
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if _, err := l.Find(l.Default); err != nil {
		return nil, fmt.Errorf("kernel list %s: default: %w", path, err)
	}
	return &l, nil
}

// check names every field of an entry that is missing or malformed.
func (k KernelSpec) check() error {
	var errs []string
	if err := CheckKernelName(k.Name); err != nil {
		errs = append(errs, err.Error())
	}
	field := func(name, value string, re *regexp.Regexp, want string) {
		switch {
		case value == "":
			errs = append(errs, fmt.Sprintf("%s is missing (%s)", name, want))
		case !re.MatchString(value):
			errs = append(errs, fmt.Sprintf("%s %q is not %s", name, value, want))
		}
	}
	field("suite", k.Suite, suiteRE, "a Debian suite, like bookworm-security")
	pin := func(prefix string, p DebPin) {
		field(prefix+"package", p.Package, packageRE, "a Debian package name, like linux-image-6.1.0-56-amd64")
		field(prefix+"version", p.Version, versionRE, "a Debian version, like 6.1.192-2")
		field(prefix+"sha256", p.SHA256, sha256RE, "the .deb's SHA256 in 64 lower-case hex digits")
	}
	if len(k.Packages) == 0 {
		pin("", DebPin{k.Package, k.Version, k.SHA256})
	} else {
		if k.Package != "" || k.Version != "" || k.SHA256 != "" {
			errs = append(errs, "give either package, version and sha256 (one .deb) or packages: (a split build), not both")
		}
		seen := map[string]bool{}
		for i, p := range k.Packages {
			pin(fmt.Sprintf("packages[%d].", i), p)
			if seen[p.Package] {
				errs = append(errs, fmt.Sprintf("packages: %s is listed twice", p.Package))
			}
			seen[p.Package] = true
		}
	}
	if k.Metapackage != "" && !packageRE.MatchString(k.Metapackage) {
		errs = append(errs, fmt.Sprintf("metapackage %q is not a Debian package name", k.Metapackage))
	}
	if u, err := url.Parse(k.Archive); k.Archive == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Sprintf("archive %q is not an http(s) URL of a Debian archive, like http://deb.debian.org/debian-security", k.Archive))
	}
	if k.Keyring != "" && !filepath.IsAbs(k.Keyring) {
		errs = append(errs, fmt.Sprintf("keyring %q must be an absolute path", k.Keyring))
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; ") + " (lvslab kernels update fills package, version and sha256 from the metapackage)")
	}
	return nil
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
	if st, err := os.Stat(image); err != nil || !st.Mode().IsRegular() {
		return nil, fmt.Errorf("--kernel-image %s: not a readable file (give the bzImage, e.g. arch/x86/boot/bzImage)", image)
	}
	if _, err := os.Stat(filepath.Join(modules, "modules.dep")); err != nil {
		return nil, fmt.Errorf("--modules %s has no modules.dep: run depmod -b BASE RELEASE first (make modules_install INSTALL_MOD_PATH=BASE does)", modules)
	}
	image, _ = filepath.Abs(image)
	modules, _ = filepath.Abs(modules)
	return &Kernel{Name: "custom", Release: filepath.Base(filepath.Clean(modules)), Image: image, Modules: modules}, nil
}

// Kernel is a kernel ready to boot: its image and its modules tree
// (a directory holding modules.dep, after depmod), and for a kernel of the
// list the build it came from.
type Kernel struct {
	Name    string `json:"name"`
	Release string `json:"release"`
	// Package, Version and SHA256 name the build in one line each (the
	// spec's PackageNames, VersionString and BuildID): what a benchmark
	// result records, so that the gate tells two builds apart.
	Package string `json:"package,omitempty"`
	Version string `json:"version,omitempty"`
	SHA256  string `json:"sha256,omitempty"`
	// Image and Modules are absolute paths, set when the kernel is loaded.
	Image   string `json:"-"`
	Modules string `json:"-"`
}

// FetchListed loads the kernel list at path ("" for the shipped one),
// selects the kernel of that name ("" for the list's default) and fetches
// it into the cache, or finds it there.
func FetchListed(ctx context.Context, path, name string, log func(string)) (*Kernel, error) {
	list, err := LoadKernels(path)
	if err != nil {
		return nil, err
	}
	specs, err := list.Select(name, false)
	if err != nil {
		return nil, err
	}
	return Fetch(ctx, specs[0], FetchOptions{Log: log})
}
