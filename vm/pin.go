//go:build linux

package vm

import (
	"bytes"
	"context"
	"fmt"
	"os"
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
	return p.Note == "" && (p.Old.Package != p.New.Package || p.Old.Version != p.New.Version || p.Old.SHA256 != p.New.SHA256)
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
	fields, err := apt.show(ctx, pkg, "")
	if err != nil {
		return s, err
	}
	if fields == nil || fields["Version"] == "" || len(fields["SHA256"]) != 64 {
		return s, fmt.Errorf("%s (from %s) has no version and SHA256 in %s %s", pkg, s.Metapackage, s.Archive, s.Suite)
	}
	s.Package, s.Version, s.SHA256 = pkg, fields["Version"], fields["SHA256"]
	return s, nil
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
			for key, value := range map[string]string{"package": p.New.Package, "version": p.New.Version, "sha256": p.New.SHA256} {
				v := mapValue(e, key)
				if v == nil {
					return fmt.Errorf("kernel list %s: entry %s has no %s:", path, p.Name, key)
				}
				v.Value, v.Style = value, 0
			}
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
