//go:build linux

package vm

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Pin is what re-pinning found for one entry of a kernel list.
type Pin struct {
	Name string
	Old  KernelSpec
	// New is the entry as its metapackage resolves today.
	New KernelSpec
	// Note says why an entry was left as it is.
	Note string
}

// Changed reports whether the entry's build differs from its pin.
func (p Pin) Changed() bool {
	return p.Note == "" && (p.Old.PackageNames() != p.New.PackageNames() || p.Old.VersionString() != p.New.VersionString() || p.Old.BuildID() != p.New.BuildID())
}

// Repin resolves each named entry's metapackage (every entry when names is
// empty) in its archive and suite, with lvslab's own apt configuration, to
// the package, version and SHA256 the archive has today. It changes
// nothing: WritePins does. This is a maintainer's step, never one taken at
// test time.
func Repin(ctx context.Context, l *KernelList, names []string, log func(string)) ([]Pin, error) {
	specs := l.Kernels
	if len(names) > 0 {
		specs = nil
		for _, n := range names {
			s, err := l.Find(n)
			if err != nil {
				return nil, err
			}
			specs = append(specs, s)
		}
	}
	var pins []Pin
	for _, s := range specs {
		p := Pin{Name: s.Name, Old: s, New: s}
		if s.Metapackage == "" {
			p.Note = "no metapackage to follow: edit package, version and sha256 by hand"
			pins = append(pins, p)
			continue
		}
		log(fmt.Sprintf("resolving %s (%s in %s %s)", s.Name, s.Metapackage, s.Archive, s.Suite))
		dir, err := os.MkdirTemp("", "lvslab-apt-")
		if err != nil {
			return nil, err
		}
		p.New, err = resolvePin(ctx, s, dir)
		os.RemoveAll(dir)
		if err != nil {
			return nil, fmt.Errorf("re-pin %s: %w", s.Name, err)
		}
		pins = append(pins, p)
	}
	return pins, nil
}

func resolvePin(ctx context.Context, s KernelSpec, dir string) (KernelSpec, error) {
	apt, err := newAptConfig(s, dir)
	if err != nil {
		return s, err
	}
	if err := apt.update(ctx); err != nil {
		return s, err
	}
	out, err := apt.run(ctx, dir, "apt-cache", "depends", s.Metapackage)
	if err != nil {
		return s, fmt.Errorf("%s is not in %s %s (%v): %s", s.Metapackage, s.Archive, s.Suite, err, lastLine(out))
	}
	pkg := ""
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == "Depends:" && strings.HasPrefix(f[1], "linux-image-") && !strings.HasSuffix(f[1], "-unsigned") {
			pkg = f[1]
			break
		}
	}
	if pkg == "" {
		return s, fmt.Errorf("%s depends on no linux-image package in %s %s: set metapackage: to a kernel metapackage, like linux-image-amd64", s.Metapackage, s.Archive, s.Suite)
	}
	image, err := pinOf(ctx, apt, pkg, s)
	if err != nil {
		return s, err
	}
	s.Package, s.Version, s.SHA256, s.Packages = image.Package, image.Version, image.SHA256, nil
	parts, err := splitParts(ctx, apt, pkg)
	if err != nil || len(parts) == 0 {
		return s, err
	}
	// A split build: the image package only depends on its parts.
	s.Package, s.Version, s.SHA256 = "", "", ""
	for _, part := range parts {
		p, err := pinOf(ctx, apt, part, s)
		if err != nil {
			return s, err
		}
		s.Packages = append(s.Packages, p)
	}
	return s, nil
}

// pinOf is the candidate version and SHA256 of a package in the entry's suite.
func pinOf(ctx context.Context, apt *aptConfig, pkg string, s KernelSpec) (DebPin, error) {
	fields, err := apt.show(ctx, pkg, "")
	if err != nil {
		return DebPin{}, err
	}
	if fields == nil || fields["Version"] == "" || len(fields["SHA256"]) != 64 {
		return DebPin{}, fmt.Errorf("%s (from %s) has no version and SHA256 in %s %s", pkg, s.Metapackage, s.Archive, s.Suite)
	}
	return DebPin{Package: pkg, Version: fields["Version"], SHA256: fields["SHA256"]}, nil
}

// splitParts are the packages a split linux-image-ABI depends on that
// make up the build (linux-base-ABI, linux-binary-ABI, linux-modules-ABI),
// or none for a package that holds the kernel itself.
func splitParts(ctx context.Context, apt *aptConfig, image string) ([]string, error) {
	fields, err := apt.show(ctx, image, "")
	if err != nil || fields == nil {
		return nil, err
	}
	return buildParts(image, fields["Depends"]), nil
}

// buildParts reads a Depends field for the packages of the same ABI as
// the image package, leaving out alternatives (an initramfs tool) and the
// unsigned image, which holds the same kernel unsigned.
func buildParts(image, depends string) []string {
	abi := strings.TrimPrefix(image, "linux-image-")
	var parts []string
	for _, d := range strings.Split(depends, ",") {
		if strings.Contains(d, "|") {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimSpace(d), " ")
		if strings.HasPrefix(name, "linux-") && strings.HasSuffix(name, "-"+abi) && !strings.Contains(name, "-unsigned-") {
			parts = append(parts, name)
		}
	}
	return parts
}

// WritePins rewrites the pinned fields of a kernel list file in place,
// keeping its comments and order.
func WritePins(path string, pins []Pin) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read kernel list: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("kernel list %s: %w", path, err)
	}
	entries := mapValue(doc.Content[0], "kernels")
	if entries == nil {
		return fmt.Errorf("kernel list %s has no kernels:", path)
	}
	for _, p := range pins {
		if !p.Changed() {
			continue
		}
		for _, e := range entries.Content {
			if n := mapValue(e, "name"); n == nil || n.Value != p.Name {
				continue
			}
			setPin(e, p.New)
		}
	}
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return err
	}
	if _, err := parseKernels(out.Bytes(), path); err != nil {
		return fmt.Errorf("the re-pinned list would not load, so %s was left as it is: %w", path, err)
	}
	return os.WriteFile(path, out.Bytes(), 0o644)
}

// setPin writes a build's pin into a list entry, in the form it needs:
// package, version and sha256 for one .deb, packages: for a split build
// (a kernel that Debian splits from one release to the next changes form).
func setPin(e *yaml.Node, s KernelSpec) {
	pinKeys := []string{"package", "version", "sha256", "packages"}
	var kept []*yaml.Node
	pos := -1 // where the old pin began, among the kept keys
	for i := 0; i+1 < len(e.Content); i += 2 {
		if slices.Contains(pinKeys, e.Content[i].Value) {
			if pos < 0 {
				pos = len(kept)
			}
			continue
		}
		kept = append(kept, e.Content[i], e.Content[i+1])
	}
	if pos < 0 {
		pos = len(kept)
	}
	scalar := func(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v} }
	var pin []*yaml.Node
	if len(s.Packages) == 0 {
		pin = []*yaml.Node{scalar("package"), scalar(s.Package), scalar("version"), scalar(s.Version), scalar("sha256"), scalar(s.SHA256)}
	} else {
		seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for _, p := range s.Packages {
			seq.Content = append(seq.Content, &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{
				scalar("package"), scalar(p.Package), scalar("version"), scalar(p.Version), scalar("sha256"), scalar(p.SHA256)}})
		}
		pin = []*yaml.Node{scalar("packages"), seq}
	}
	e.Content = slices.Concat(kept[:pos], pin, kept[pos:])
}

// mapValue is the value of key in a YAML mapping node.
func mapValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}
