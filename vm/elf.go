//go:build linux

package vm

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// A binary built with plain "go build" (cgo on, for the system's DNS
// resolver) is dynamically linked: to run as the VM's init it needs its
// ELF interpreter and libraries in the initramfs, at the paths the
// dynamic loader opens. lvslab finds them the way the loader does
// (ld.so(8)): DT_RPATH, DT_RUNPATH, /etc/ld.so.cache, then the default
// directories; it ships the cache too, so the loader in the guest looks
// where lvslab did. No library does this lookup for Go, hence the code.

// ldCache is the loader's cache of library paths by name.
const ldCache = "/etc/ld.so.cache"

// defaultLibDirs are the loader's trusted directories on x86-64 Debian
// and Ubuntu, searched last.
var defaultLibDirs = []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"}

// initFiles are the host files the init binary needs in the initramfs
// beside itself, at the same paths: nothing for a static binary; for a
// dynamic one its interpreter, every library it needs (recursively) and
// the loader's cache.
func initFiles(binary string) ([]string, error) {
	f, err := elf.Open(binary)
	if err != nil {
		return nil, fmt.Errorf("init binary %s: %w (give lvslab's own binary)", binary, err)
	}
	defer f.Close()
	if f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64 {
		return nil, fmt.Errorf("init binary %s is not an x86-64 program (%s %s): the VM is x86-64; build lvslab for linux/amd64", binary, f.Class, f.Machine)
	}
	interp := ""
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			data := make([]byte, p.Filesz)
			if _, err := p.ReadAt(data, 0); err != nil {
				return nil, fmt.Errorf("init binary %s: read its interpreter: %w", binary, err)
			}
			interp = string(bytes.TrimRight(data, "\x00"))
		}
	}
	if interp == "" {
		return nil, nil
	}
	cache, _ := readLDCache(ldCache)
	files := []string{interp}
	if cache != nil {
		files = append(files, ldCache)
	}
	seen := map[string]bool{interp: true}
	var visit func(path string, obj *elf.File) error
	visit = func(path string, obj *elf.File) error {
		needed, err := obj.ImportedLibraries()
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		for _, name := range needed {
			lib, err := findLibrary(name, path, obj, cache)
			if err != nil {
				return err
			}
			if seen[lib] {
				continue
			}
			seen[lib] = true
			files = append(files, lib)
			lf, err := elf.Open(lib)
			if err != nil {
				return fmt.Errorf("%s: %w", lib, err)
			}
			err = visit(lib, lf)
			lf.Close()
			if err != nil {
				return err
			}
		}
		return nil
	}
	if err := visit(binary, f); err != nil {
		return nil, fmt.Errorf("init binary %s is dynamically linked and %w: build it with CGO_ENABLED=0 (make build does)", binary, err)
	}
	return files, nil
}

// findLibrary finds a DT_NEEDED name for the object at path.
func findLibrary(name, path string, obj *elf.File, cache map[string]string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	origin := filepath.Dir(path)
	expand := func(entries []string) []string {
		var dirs []string
		for _, e := range entries {
			for _, d := range filepath.SplitList(e) {
				d = strings.ReplaceAll(strings.ReplaceAll(d, "${ORIGIN}", origin), "$ORIGIN", origin)
				dirs = append(dirs, d)
			}
		}
		return dirs
	}
	runpath, _ := obj.DynString(elf.DT_RUNPATH)
	var dirs []string
	if len(runpath) == 0 {
		rpath, _ := obj.DynString(elf.DT_RPATH)
		dirs = append(dirs, expand(rpath)...)
	}
	dirs = append(dirs, expand(runpath)...)
	for _, d := range dirs {
		if p := filepath.Join(d, name); isELF64(p) {
			return p, nil
		}
	}
	if p, ok := cache[name]; ok && isELF64(p) {
		return p, nil
	}
	for _, d := range defaultLibDirs {
		if p := filepath.Join(d, name); isELF64(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("needs %s (for %s), which the dynamic loader would not find", name, path)
}

func isELF64(p string) bool {
	f, err := elf.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	return f.Class == elf.ELFCLASS64 && f.Machine == elf.EM_X86_64
}

// readLDCache reads the x86-64 entries of glibc's ld.so.cache (format
// "glibc-ld.so.cache1.1"), leaving out the glibc-hwcaps variants: the
// loader falls back to the plain library when a variant is missing.
func readLDCache(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	const magic = "glibc-ld.so.cache1.1"
	start := bytes.Index(data, []byte(magic))
	if start < 0 || len(data) < start+48 {
		return nil, fmt.Errorf("%s: not a cache this lvslab reads", path)
	}
	hdr := data[start:]
	n := binary.LittleEndian.Uint32(hdr[20:])
	const entrySize = 24
	if uint64(48)+uint64(n)*entrySize > uint64(len(hdr)) {
		return nil, fmt.Errorf("%s: truncated", path)
	}
	str := func(off uint32) string {
		if int(off) >= len(hdr) {
			return ""
		}
		s := hdr[off:]
		if i := bytes.IndexByte(s, 0); i >= 0 {
			s = s[:i]
		}
		return string(s)
	}
	// FLAG_ELF_LIBC6 | FLAG_X8664_LIB64
	const x8664 = 0x0303
	libs := map[string]string{}
	for i := uint32(0); i < n; i++ {
		e := hdr[48+i*entrySize:]
		flags := binary.LittleEndian.Uint32(e[0:])
		hwcap := binary.LittleEndian.Uint64(e[16:])
		if flags != x8664 || hwcap != 0 {
			continue
		}
		key, value := str(binary.LittleEndian.Uint32(e[4:])), str(binary.LittleEndian.Uint32(e[8:]))
		if _, dup := libs[key]; !dup && key != "" {
			libs[key] = value
		}
	}
	return libs, nil
}
