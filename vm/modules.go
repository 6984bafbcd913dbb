//go:build linux

package vm

import (
	"bufio"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// ModuleIndex is what depmod wrote for one kernel: each module's file and
// dependencies, aliases, soft dependencies and the built-in modules.
// modprobe reads the same files; lvslab reads them itself because the
// guest has no modprobe, only its own init.
type ModuleIndex struct {
	Dir     string
	Files   map[string]string   // module name -> path relative to Dir
	Deps    map[string][]string // module name -> dependencies, in modules.dep order
	Pre     map[string][]string // softdep pre:
	Post    map[string][]string // softdep post:
	Builtin map[string]bool
	// aliases (pattern, module) are read on first need: a full kernel's
	// modules.alias is over a megabyte, slow to parse in a guest under
	// TCG, and a module asked for by name does not need it.
	aliases     [][2]string
	aliasesRead bool
}

// moduleName turns a path or name into the kernel's module name
// ("nf-conntrack.ko.xz" -> "nf_conntrack").
func moduleName(p string) string {
	base := path.Base(p)
	for _, ext := range []string{".xz", ".zst", ".gz"} {
		base = strings.TrimSuffix(base, ext)
	}
	return strings.ReplaceAll(strings.TrimSuffix(base, ".ko"), "-", "_")
}

// ReadModuleIndex reads modules.dep, modules.softdep and modules.builtin
// from a modules directory (modules.alias when Resolve first needs it).
func ReadModuleIndex(dir string) (*ModuleIndex, error) {
	ix := &ModuleIndex{Dir: dir, Files: map[string]string{}, Deps: map[string][]string{},
		Pre: map[string][]string{}, Post: map[string][]string{}, Builtin: map[string]bool{}}
	err := eachLine(filepath.Join(dir, "modules.dep"), func(line string) {
		file, deps, ok := strings.Cut(line, ":")
		if !ok {
			return
		}
		name := moduleName(file)
		ix.Files[name] = file
		for _, d := range strings.Fields(deps) {
			ix.Deps[name] = append(ix.Deps[name], moduleName(d))
		}
	})
	if err != nil {
		return nil, err
	}
	eachLine(filepath.Join(dir, "modules.softdep"), func(line string) {
		f := strings.Fields(line)
		if len(f) < 3 || f[0] != "softdep" {
			return
		}
		name := moduleName(f[1])
		var into map[string][]string
		for _, w := range f[2:] {
			switch w {
			case "pre:":
				into = ix.Pre
			case "post:":
				into = ix.Post
			default:
				if into != nil {
					into[name] = append(into[name], moduleName(w))
				}
			}
		}
	})
	eachLine(filepath.Join(dir, "modules.builtin"), func(line string) {
		ix.Builtin[moduleName(line)] = true
	})
	return ix, nil
}

func eachLine(file string, fn func(string)) error {
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("read module index: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			fn(line)
		}
	}
	return sc.Err()
}

// Resolve maps a name the kernel or a user asks for (a module name or an
// alias such as "nft-chain-2-nat") to module names.
func (ix *ModuleIndex) Resolve(name string) []string {
	n := moduleName(name)
	if _, ok := ix.Files[n]; ok || ix.Builtin[n] {
		return []string{n}
	}
	if !ix.aliasesRead {
		ix.aliasesRead = true
		eachLine(filepath.Join(ix.Dir, "modules.alias"), func(line string) {
			f := strings.Fields(line)
			if len(f) == 3 && f[0] == "alias" {
				ix.aliases = append(ix.aliases, [2]string{f[1], moduleName(f[2])})
			}
		})
	}
	var out []string
	for _, a := range ix.aliases {
		if ok, _ := path.Match(a[0], name); ok {
			out = append(out, a[1])
		}
	}
	return out
}

// LoadOrder returns the modules to load, dependencies first, for the given
// modules: soft "pre" dependencies, hard dependencies, the module, then
// soft "post" dependencies. Built-in modules are left out.
func (ix *ModuleIndex) LoadOrder(names ...string) ([]string, error) {
	var order []string
	seen := map[string]bool{}
	var visit func(n string, soft bool) error
	visit = func(n string, soft bool) error {
		if seen[n] || ix.Builtin[n] {
			return nil
		}
		if _, ok := ix.Files[n]; !ok {
			if soft {
				return nil // a soft dependency this kernel lacks
			}
			return fmt.Errorf("module %s is not in %s", n, ix.Dir)
		}
		seen[n] = true
		for _, p := range ix.Pre[n] {
			if err := ix.visitSoft(p, visit); err != nil {
				return err
			}
		}
		// modules.dep lists dependencies so that the last one loads first.
		deps := ix.Deps[n]
		for i := len(deps) - 1; i >= 0; i-- {
			if err := visit(deps[i], false); err != nil {
				return err
			}
		}
		order = append(order, n)
		for _, p := range ix.Post[n] {
			if err := ix.visitSoft(p, visit); err != nil {
				return err
			}
		}
		return nil
	}
	for _, n := range names {
		if err := visit(moduleName(n), false); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// visitSoft follows a soft dependency, which may name an alias: libcrc32c
// asks for "crc32c", which crc32c_generic provides.
func (ix *ModuleIndex) visitSoft(name string, visit func(string, bool) error) error {
	for _, m := range ix.Resolve(name) {
		if err := visit(m, true); err != nil {
			return err
		}
	}
	return nil
}
