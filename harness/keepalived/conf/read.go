package conf

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Options say how keepalived would be started on the file.
type Options struct {
	// ConfigID is keepalived's -i ID: a line "@ID …" is kept, "@^ID …"
	// dropped. keepalived's own default is the host's name, which says
	// nothing about the lab: the caller must give an ID or set
	// NoConfigID.
	ConfigID string
	// NoConfigID reads the file as with an id that no @ line names:
	// every "@ID" line dropped, every "@^ID" line kept (${_INSTANCE} is
	// then empty).
	NoConfigID bool
	// Root is the file tree absolute include paths are read from (the
	// operator's "/", e.g. os.DirFS of a copy of it). Without it an
	// absolute include is a Problem and is not read.
	Root fs.FS
}

func (o Options) check() error {
	switch {
	case o.ConfigID == "" && !o.NoConfigID:
		return errors.New("no config id: keepalived keeps \"@ID\" lines by its -i ID, by default the host's name; say which id the director runs with, or that it has none")
	case o.ConfigID != "" && o.NoConfigID:
		return fmt.Errorf("config id %q given and none asked for: give one or the other", o.ConfigID)
	case strings.ContainsAny(o.ConfigID, " \t\n"):
		return fmt.Errorf("config id %q has a blank: keepalived compares it with the word after '@'", o.ConfigID)
	}
	return nil
}

// Read reads a keepalived configuration file from the operating system:
// its includes are read relative to its directory (the tree the reader
// sees is that directory), absolute ones under opts.Root.
func Read(path string, opts Options) (*File, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("keepalived configuration %s: %w", path, err)
	}
	dir, base := filepath.Split(abs)
	return read(&tree{fsys: os.DirFS(dir), abs: filepath.ToSlash(filepath.Clean(dir))}, base, opts)
}

// ReadFS reads the keepalived configuration name of fsys: its relative
// includes are read from fsys, relative to the including file's
// directory; absolute ones under opts.Root.
func ReadFS(fsys fs.FS, name string, opts Options) (*File, error) {
	return read(&tree{fsys: fsys}, name, opts)
}

// reader is what one read shares between its passes.
type reader struct {
	opts  Options
	local *tree
	root  *tree

	problems []Problem
	seen     map[Problem]bool
	err      error

	fileBytes     int
	filesOpened   int
	substitutions int

	files       []string
	sources     map[string][]string
	contents    map[fileKey][]byte
	includes    []Include
	definitions []Definition
}

type fileKey struct {
	tree *tree
	path string
}

func (rd *reader) problem(pos Pos, msg string) {
	p := Problem{Pos: pos, Message: msg}
	if rd.seen[p] {
		return
	}
	rd.seen[p] = true
	rd.problems = append(rd.problems, p)
}

func (rd *reader) fail(limit string, value int, pos Pos, what string) {
	if rd.err == nil {
		rd.err = &LimitError{Limit: limit, Value: value, Pos: pos, What: what}
	}
}

// readFile reads a file once per read, and keeps its lines for Raw.
func (rd *reader) readFile(t *tree, path, name string) ([]byte, error) {
	key := fileKey{t, path}
	if data, ok := rd.contents[key]; ok {
		return data, nil
	}
	if st, err := fs.Stat(t.fsys, path); err == nil && st.Size() > MaxExpandedBytes {
		rd.fail("MaxExpandedBytes", MaxExpandedBytes, Pos{File: name}, fmt.Sprintf("file of %d bytes", st.Size()))
		return nil, nil
	}
	data, err := fs.ReadFile(t.fsys, path)
	if err != nil {
		return nil, err
	}
	rd.fileBytes += len(data)
	if rd.fileBytes > MaxExpandedBytes {
		rd.fail("MaxExpandedBytes", MaxExpandedBytes, Pos{File: name}, "the files read hold more bytes")
		return nil, nil
	}
	rd.contents[key] = data
	rd.files = append(rd.files, name)
	lines := strings.Split(string(data), "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	rd.sources[name] = lines
	return data, nil
}

func read(local *tree, name string, opts Options) (*File, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	rd := &reader{opts: opts, local: local, seen: map[Problem]bool{}, sources: map[string][]string{}, contents: map[fileKey][]byte{}}
	if opts.Root != nil {
		rd.root = &tree{fsys: opts.Root, prefix: "/", abs: "/"}
	}
	if strings.HasPrefix(name, "/") && rd.root != nil {
		// The main file named under the root.
		local = rd.root
	}

	// keepalived's parent reads the files and writes the copy its
	// children read (init_data with copy_config).
	parent := newPass(rd, false)
	if !parent.openGlob(strings.TrimPrefix(name, "/"), includeR|includeM|includeW, Pos{File: name}) {
		if rd.err != nil {
			return nil, rd.err
		}
		msg := "no such file"
		if len(rd.problems) > 0 {
			msg = rd.problems[len(rd.problems)-1].Message
		}
		return nil, fmt.Errorf("keepalived configuration %s: %s", name, msg)
	}
	if err := parent.run(); err != nil {
		return nil, err
	}
	child := newPass(rd, true)
	child.out = make([]Line, 0, len(parent.out))
	child.frames = []*frame{{st: &stream{recs: parent.copy, copy: true}, tree: local, dir: "."}}
	if err := child.run(); err != nil {
		return nil, err
	}

	f := &File{Files: rd.files, ConfigID: opts.ConfigID, Lines: child.out, ParentLines: parent.out, sources: rd.sources}
	var unknown []Keyword
	var u []Keyword
	f.Tree.Parent, u = build(rd, ParentProcess, tokenize(rd, parent.out))
	unknown = append(unknown, u...)
	childWords := tokenize(rd, child.out)
	f.Tree.VRRP, u = build(rd, VRRPProcess, childWords)
	unknown = append(unknown, u...)
	f.Tree.Checker, u = build(rd, CheckerProcess, childWords)
	unknown = append(unknown, u...)
	f.Unknown = dedupeUnknown(unknown)

	x := &extractor{rd: rd, f: f, scripts: map[string]*Script{}, procs: map[string]*TrackedProcess{}}
	x.global(f.Tree.Parent)
	x.vrrp(f.Tree.VRRP)
	x.checker(f.Tree.Checker)
	x.resolve()

	f.Includes = rd.includes
	f.Definitions = rd.definitions
	f.Problems = rd.problems
	return f, nil
}

// dedupeUnknown keeps one entry per keyword and line: a top-level
// unknown keyword is reported by every process.
func dedupeUnknown(in []Keyword) []Keyword {
	type key struct {
		pos  Pos
		name string
	}
	var out []Keyword
	seen := map[key]bool{}
	for _, k := range in {
		if seen[key{k.Pos, k.Name}] {
			continue
		}
		seen[key{k.Pos, k.Name}] = true
		out = append(out, k)
	}
	return out
}

// resolve checks what refers to what once everything is read
// (vrrp_complete_init, validate_check_config).
func (x *extractor) resolve() {
	inst := map[string]bool{}
	for _, v := range x.f.Instances {
		inst[v.Name] = true
	}
	for i := range x.f.SyncGroups {
		g := &x.f.SyncGroups[i]
		var kept []string
		for _, m := range g.Members {
			if !inst[m] {
				x.rd.problem(g.MembersPos, fmt.Sprintf("Virtual router %s specified in sync group %s doesn't exist - ignoring", m, g.Name))
				continue
			}
			kept = append(kept, m)
		}
		g.Members = kept
	}
	x.f.SyncGroups = slices.DeleteFunc(x.f.SyncGroups, func(g SyncGroup) bool {
		if len(g.Members) == 0 {
			x.rd.problem(g.Pos, fmt.Sprintf("Sync group %s, no matching virtual router found in group declaration - removing", g.Name))
			return true
		}
		return false
	})
	if sd := x.f.Global.SyncDaemon; sd != nil && sd.Instance != "" && !inst[sd.Instance] {
		x.rd.problem(sd.Pos, fmt.Sprintf("lvs_sync_daemon vrrp instance %s not found - keepalived runs no sync daemon", sd.Instance))
	}
	groups := map[string]bool{}
	for _, g := range x.f.Groups {
		groups[g.Name] = true
	}
	for _, vs := range x.f.VirtualServers {
		if vs.Group != "" && !groups[vs.Group] {
			x.rd.problem(vs.Pos, fmt.Sprintf("Virtual server group %s not found - keepalived removes the virtual server", vs.Group))
		}
	}
}
