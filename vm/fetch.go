//go:build linux

package vm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/lvslab/lvslab/fixtures"
)

// aptConfig is an apt of lvslab's own: its sources list names only one
// entry's archive and suite, signed by the entry's keyring, and its lists,
// cache and status live in a directory of its own. The host's sources,
// keys, pins and package lists are never read or changed, so a kernel is
// fetched the same way on Debian, on Ubuntu, or on a host whose sources
// lack that suite. The host's other apt settings (a proxy) still apply.
type aptConfig struct {
	dir  string
	spec KernelSpec
}

func newAptConfig(spec KernelSpec, dir string) (*aptConfig, error) {
	if _, err := os.Stat(spec.keyring()); err != nil {
		return nil, fmt.Errorf("the archive key %s is missing: apt-get install debian-archive-keyring (make deps does), or set keyring: for %s in the kernel list", spec.keyring(), spec.Name)
	}
	a := &aptConfig{dir: dir, spec: spec}
	for _, d := range []string{"sources.list.d", "preferences.d", "trusted.gpg.d", "lists/partial", "archives/partial"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	sources := fmt.Sprintf("deb [signed-by=%s] %s %s main\n", spec.keyring(), spec.Archive, spec.Suite)
	if err := os.WriteFile(filepath.Join(dir, "sources.list"), []byte(sources), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "status"), nil, 0o644); err != nil {
		return nil, err
	}
	return a, nil
}

// options are apt's -o settings that make it this configuration's.
func (a *aptConfig) options() []string {
	d := a.dir
	opts := []string{
		"Dir::Etc::sourcelist=" + filepath.Join(d, "sources.list"),
		"Dir::Etc::sourceparts=" + filepath.Join(d, "sources.list.d"),
		"Dir::Etc::preferences=" + filepath.Join(d, "preferences"),
		"Dir::Etc::preferencesparts=" + filepath.Join(d, "preferences.d"),
		"Dir::Etc::trusted=" + filepath.Join(d, "trusted.gpg"),
		"Dir::Etc::trustedparts=" + filepath.Join(d, "trusted.gpg.d"),
		"Dir::State=" + d,
		"Dir::State::lists=" + filepath.Join(d, "lists"),
		"Dir::State::status=" + filepath.Join(d, "status"),
		"Dir::Cache=" + d,
		"Dir::Cache::archives=" + filepath.Join(d, "archives"),
		"APT::Architecture=amd64",
		"APT::Architectures=amd64",
		"Acquire::Languages=none",
		// The .deb's pinned SHA256 is what lvslab trusts; a snapshot's
		// Release file is past its Valid-Until by design.
		"Acquire::Check-Valid-Until=false",
		// The directories are root's own and temporary: apt's _apt user
		// could not write them.
		"APT::Sandbox::User=root",
		"Debug::NoLocking=true",
	}
	var args []string
	for _, o := range opts {
		args = append(args, "-o", o)
	}
	return args
}

func (a *aptConfig) run(ctx context.Context, dir, tool string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, tool, append(a.options(), args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "DEBIAN_FRONTEND=noninteractive")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if errors.Is(err, exec.ErrNotFound) {
		return nil, fmt.Errorf("%s is not installed: lvslab fetches Debian kernels with apt (Debian or Ubuntu), or boot your own with --kernel-image/--modules", tool)
	}
	return out.Bytes(), err
}

// update reads the archive's index for the suite.
func (a *aptConfig) update(ctx context.Context) error {
	out, err := a.run(ctx, a.dir, "apt-get", "update", "-q")
	if err != nil {
		return fmt.Errorf("apt-get update for %s %s failed (%v): %s (check the archive URL and suite in the kernel list, and that this host reaches it)",
			a.spec.Archive, a.spec.Suite, err, lastLines(strings.Split(strings.TrimSpace(string(out)), "\n"), ""))
	}
	return nil
}

// show returns apt-cache show's fields of one package version (or of the
// candidate when version is empty), or nil when the index has no such
// version.
func (a *aptConfig) show(ctx context.Context, pkg, version string) (map[string]string, error) {
	args := []string{"show", "--no-all-versions", pkg}
	if version != "" {
		args[2] = pkg + "=" + version
	}
	out, err := a.run(ctx, a.dir, "apt-cache", args...)
	if err != nil {
		if bytes.Contains(out, []byte("No packages found")) || bytes.Contains(out, []byte("Unable to locate")) ||
			bytes.Contains(out, []byte("not found")) {
			return nil, nil
		}
		return nil, fmt.Errorf("apt-cache show %s: %v: %s", args[2], err, lastLine(out))
	}
	f := controlFields(out)
	// apt-cache shows nothing, and succeeds, for a version it lacks.
	if f["Package"] != pkg || (version != "" && f["Version"] != version) {
		return nil, nil
	}
	return f, nil
}

// controlFields reads the first stanza of Debian control data.
func controlFields(out []byte) map[string]string {
	f := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if line == "" && len(f) > 0 {
			break
		}
		if k, v, ok := strings.Cut(line, ":"); ok && !strings.HasPrefix(line, " ") {
			f[k] = strings.TrimSpace(v)
		}
	}
	return f
}

// downloadDebs fetches every pinned .deb of the build into dir and checks
// each one's SHA256; it returns their paths in the spec's order.
func downloadDebs(ctx context.Context, spec KernelSpec, dir string, log func(string)) ([]string, error) {
	apt, err := newAptConfig(spec, filepath.Join(dir, "apt"))
	if err != nil {
		return nil, err
	}
	log(fmt.Sprintf("fetching kernel %s: reading the index of %s %s", spec.Name, spec.Archive, spec.Suite))
	if err := apt.update(ctx); err != nil {
		return nil, err
	}
	var paths []string
	for _, p := range spec.Debs() {
		fields, err := apt.show(ctx, p.Package, p.Version)
		if err != nil {
			return nil, err
		}
		if fields == nil {
			return nil, notInArchive(spec, p)
		}
		if fields["SHA256"] != p.SHA256 {
			return nil, fmt.Errorf("the archive's %s %s has SHA256 %s, but %s pins %s for %s: the same version was rebuilt, or the list was edited by hand; re-pin with lvslab kernels update only if you trust the archive's build",
				p.Package, p.Version, fields["SHA256"], spec.List, p.SHA256, spec.Name)
		}
		log(fmt.Sprintf("fetching kernel %s: downloading %s %s (%s MB)", spec.Name, p.Package, p.Version, megabytes(fields["Size"])))
		debs := filepath.Join(dir, "debs", p.Package)
		if err := os.MkdirAll(debs, 0o755); err != nil {
			return nil, err
		}
		if out, err := apt.run(ctx, debs, "apt-get", "download", "-q", p.Package+"="+p.Version); err != nil {
			return nil, fmt.Errorf("apt-get download %s=%s failed (%v): %s", p.Package, p.Version, err, lastLine(out))
		}
		got, _ := filepath.Glob(filepath.Join(debs, "*.deb"))
		if len(got) != 1 {
			return nil, fmt.Errorf("apt-get download %s=%s left %d .deb files", p.Package, p.Version, len(got))
		}
		sum, err := hashFile(got[0])
		if err != nil {
			return nil, err
		}
		if sum != p.SHA256 {
			return nil, fmt.Errorf("the downloaded %s has SHA256 %s, but %s pins %s for %s: refused (a mirror served another file; try again, or use another archive)",
				filepath.Base(got[0]), sum, spec.List, p.SHA256, spec.Name)
		}
		paths = append(paths, got[0])
	}
	log(fmt.Sprintf("fetching kernel %s: every SHA256 matches its pin; unpacking", spec.Name))
	return paths, nil
}

// notInArchive is the error for a pinned version the archive no longer
// has: Debian keeps one version of a package per suite.
func notInArchive(spec KernelSpec, p DebPin) error {
	return fmt.Errorf("%s %s is no longer in %s %s (Debian keeps one version per suite). Ways out: %sfetch it from Debian's snapshot archive by setting archive: for %s in %s to a dated snapshot that still has it, e.g. https://snapshot.debian.org/archive/%s/20251120T000000Z/ (https://snapshot.debian.org/binary/%s/ lists when each version was published); or re-pin with lvslab kernels update (a different kernel build: re-measure its baselines); or boot your own copy with --kernel-image/--modules",
		p.Package, p.Version, spec.Archive, spec.Suite, movingFix(spec), spec.Name, spec.List, archiveName(spec.Archive), p.Package)
}

// movingFix is the one-line fix for a moving entry whose version the
// archive replaced, or nothing for a pinned suite.
func movingFix(spec KernelSpec) string {
	if !spec.Moving {
		return ""
	}
	list := ""
	if spec.List != fixtures.KernelsFile {
		list = " --kernels " + spec.List
	}
	return fmt.Sprintf("%s is a moving entry (%s replaces its kernel every few weeks), so re-pin it: lvslab kernels update --write%s %s (a new build: its baseline too); or ", spec.Name, spec.Suite, list, spec.Name)
}

// archiveName is the snapshot archive's name for an archive URL:
// debian-security for the security archive, debian otherwise.
func archiveName(archive string) string {
	if strings.Contains(archive, "debian-security") {
		return "debian-security"
	}
	return "debian"
}

func megabytes(size string) string {
	var n int64
	fmt.Sscan(size, &n)
	return fmt.Sprintf("%.0f", float64(n)/1e6)
}

func runTool(ctx context.Context, name string, args ...string) ([]byte, error) {
	return exec.CommandContext(ctx, name, args...).CombinedOutput()
}
