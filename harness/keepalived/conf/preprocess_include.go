package conf

import (
	"bytes"
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// openGlob is open_glob_file: it pushes a frame for an include's glob and
// opens its first readable file; false if none.
func (p *pass) openGlob(pattern string, typ includeType, pos Pos) bool {
	if len(p.frames) >= MaxIncludeDepth {
		p.rd.fail("MaxIncludeDepth", MaxIncludeDepth, pos, "includes nest deeper")
		return false
	}
	t, cwd, pat, ok := p.resolve(pattern, pos)
	if !ok {
		return false
	}
	res := t.glob(cwd, pat)
	if res.tooMany {
		p.rd.fail("MaxBraceAlternatives", MaxBraceAlternatives, pos, fmt.Sprintf("include %q expands to more patterns", pattern))
		return false
	}
	if res.outside {
		p.rd.problem(pos, fmt.Sprintf("include %q leaves the directory the reader was given: the reader cannot follow it; give every file under one directory (or --root for absolute paths)", pattern))
	}
	// open_and_check_glob
	if len(res.matches) == 0 {
		switch {
		case res.missingFiles > 0 || res.missingDirs > 0:
			p.includeError(pos, typ, includeM, fmt.Sprintf("Config files missing '%s'.", pattern))
		case res.wildcards:
			p.includeError(pos, typ, includeW, fmt.Sprintf("No config files matched '%s'.", pattern))
		default:
			p.includeError(pos, typ, includeM, fmt.Sprintf("Config files missing '%s'.", pattern))
		}
		return false
	}
	if res.missingFiles > 0 || res.missingDirs > 0 {
		p.includeError(pos, typ, includeB, fmt.Sprintf("Some config files missing: \"%s\".", pattern))
		if typ&includeB != 0 {
			return false
		}
	}
	f := &frame{glob: &globFrame{pattern: pattern, pos: pos, typ: typ, matches: res.matches}, tree: t, dir: p.cwd()}
	p.frames = append(p.frames, f)
	if !p.openNext(f) {
		p.frames = p.frames[:len(p.frames)-1]
		return false
	}
	return true
}

// cwd is the working directory (an fs path of the top frame's tree).
func (p *pass) cwd() string {
	if f := p.top(); f != nil {
		return f.dir
	}
	return "."
}

// resolve picks the tree and directory a pattern is relative to: an
// absolute pattern is read under Options.Root, a relative one from the
// directory of the file being read (keepalived chdir()s into it).
func (p *pass) resolve(pattern string, pos Pos) (*tree, string, string, bool) {
	if strings.HasPrefix(pattern, "/") {
		if p.rd.root == nil {
			p.rd.problem(pos, fmt.Sprintf("include %q is an absolute path: keepalived reads it on its own machine; give --root DIR holding a copy of that file tree to read it", pattern))
			return nil, "", "", false
		}
		return p.rd.root, ".", strings.TrimLeft(pattern, "/"), true
	}
	f := p.top()
	if f == nil {
		return p.rd.local, ".", pattern, true
	}
	return f.tree, f.dir, pattern, true
}

// includeError is file_config_error: keepalived logs the message, and it
// is an error (keepalived then refuses to start) when the include type
// asks for it.
func (p *pass) includeError(pos Pos, typ, class includeType, msg string) {
	if p.child {
		return // the parent already reported it
	}
	if typ&class != 0 {
		msg += " keepalived 2.2.7 then refuses to start (exit 6)."
	}
	p.rd.problem(pos, msg)
	if !p.child {
		p.copy = append(p.copy, copyRec{text: "#! " + msg})
	}
}

// openNext is open_conf_file: it opens the frame's next readable match.
func (p *pass) openNext(f *frame) bool {
	g := f.glob
	if g == nil {
		return false
	}
	for g.next < len(g.matches) {
		m := g.matches[g.next]
		g.next++
		name := f.tree.display(m.path)
		// check_glob_file
		if m.dir {
			p.includeError(g.pos, g.typ, includeR, fmt.Sprintf("Configuration file '%s' is a directory - skipping", name))
			continue
		}
		st, err := fs.Stat(f.tree.fsys, m.path)
		if err != nil || !st.Mode().IsRegular() || st.Mode().Perm()&0o111 != 0 {
			p.includeError(g.pos, g.typ, includeR, fmt.Sprintf("Configuration file '%s' is not a regular non-executable file - skipping", name))
			continue
		}
		p.rd.filesOpened++
		if p.rd.filesOpened > MaxFiles {
			p.rd.fail("MaxFiles", MaxFiles, g.pos, "the configuration opens more files")
			return false
		}
		data, err := p.rd.readFile(f.tree, m.path, name)
		if err != nil {
			p.includeError(g.pos, g.typ, includeR, fmt.Sprintf("Configuration file '%s' open problem (%v) - skipping", name, err))
			continue
		}
		if p.rd.err != nil {
			return false
		}
		if !p.child {
			p.copy = append(p.copy, copyRec{text: "# " + name, file: &fileRef{tree: f.tree, path: m.path}})
		}
		f.st = &stream{chunks: splitChunks(data), name: name}
		f.name = name
		f.dir = path.Dir(m.path)
		g.opened++
		return true
	}
	return false
}

// splitChunks cuts a file the way fgets(buf, maxBuf) reads it.
func splitChunks(data []byte) []chunk {
	var out []chunk
	line := 1
	for len(data) > 0 {
		n := bytes.IndexByte(data, '\n') + 1
		if n == 0 || n > maxBuf-1 {
			n = min(len(data), maxBuf-1)
		}
		out = append(out, chunk{raw: data[:n], line: line})
		if data[n-1] == '\n' {
			line++
		}
		data = data[n:]
	}
	return out
}

// nextFile is get_next_file: the top frame's stream has ended.
func (p *pass) nextFile() bool {
	f := p.top()
	// end_file
	if !f.st.copy {
		f.st.closed = true
	}
	if !p.child {
		p.copy = append(p.copy, copyRec{text: "!"})
	}
	if p.openNext(f) {
		return true
	}
	if p.rd.err != nil {
		return false
	}
	// end_glob
	if f.glob != nil && f.glob.opened == 0 && !p.child {
		p.rd.problem(f.glob.pos, fmt.Sprintf("No config files matched '%s'.", f.glob.pattern))
	}
	p.frames = p.frames[:len(p.frames)-1]
	return len(p.frames) > 0
}

// isInclude is is_include.
func isInclude(buf []byte) bool {
	if !bytes.HasPrefix(buf, []byte("include")) || len(buf) == 7 {
		return false
	}
	if isSpace(buf[7]) {
		return true
	}
	return len(buf) > 8 && isSpace(buf[8]) && strings.IndexByte("rmwba", buf[7]) >= 0
}

// checkInclude is check_include: an include line opens its files, and the
// parser never sees it.
func (p *pass) checkInclude(buf []byte) bool {
	if !isInclude(buf) {
		return false
	}
	var typ includeType
	rest := buf[8:]
	if !isSpace(buf[7]) {
		rest = buf[9:]
		switch buf[7] {
		case 'r':
			typ = includeR
		case 'a':
			typ = includeR | includeM | includeB | includeW
		case 'w':
			typ = includeR | includeM | includeW
		case 'm':
			typ = includeR | includeM
		case 'b':
			typ = includeR | includeB
		}
	}
	rest = rest[spn(rest, " \t"):]
	pos := p.lastPos
	p.rd.includes = append(p.rd.includes, Include{Line: Line{Text: string(buf), Pos: pos, Expanded: p.expanded}, Pattern: string(rest), Child: p.child})
	inc := &p.rd.includes[len(p.rd.includes)-1]
	before := len(p.frames)
	p.openGlob(string(rest), typ, pos)
	if len(p.frames) > before {
		for _, m := range p.top().glob.matches {
			inc.Files = append(inc.Files, p.top().tree.display(m.path))
		}
	}
	return true
}
