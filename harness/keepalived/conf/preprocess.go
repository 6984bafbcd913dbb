package conf

import (
	"bytes"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

// This file mirrors keepalived 2.2.7's lib/parser.c from the physical
// lines of the files to the logical lines its parser reads (read_line()
// and what it calls). Each quirk it mirrors is named after the function
// it comes from.

// maxBuf is keepalived's MAXBUF (lib/parser.h): fgets() reads a physical
// line in pieces of maxBuf-1 bytes, and replace_param() refuses a
// substitution that would make a line reach maxBuf bytes.
const maxBuf = 1024

// Include types, as keepalived's include_t (lib/parser.c).
type includeType uint8

const (
	includeR includeType = 1 << iota // error if unreadable, a directory, …
	includeM                         // error if no file matches, unless a wildcard
	includeW                         // error if no file matches, even with a wildcard
	includeB                         // every brace alternative must match
)

// A copyRec is one line of the configuration copy keepalived's parent
// process writes while it reads the files, and its VRRP and checker
// processes read instead of the files (lib/parser.c, the comment at its
// top): the physical lines without comments, include lines blanked, a
// line "# NAME" where a file starts, "!" where it ends, "#! MESSAGE" for
// an include error.
type copyRec struct {
	text string
	pos  Pos
	// file is the file a "# NAME" line the parent wrote stands for (nil
	// for any other line, even one that happens to start with "#").
	file *fileRef
}

// fileRef is a file of a tree.
type fileRef struct {
	tree *tree
	path string
}

// A stream is what fgets() reads: a file's pieces, or the copy.
type stream struct {
	name   string // the file's display name
	chunks []chunk
	recs   []copyRec
	next   int
	copy   bool
	closed bool
}

// chunk is what one fgets(buf, maxBuf) call returns: a physical line, or
// a piece of one longer than maxBuf-1 bytes.
type chunk struct {
	raw  []byte
	line int // physical line number, from 1
}

// A frame is keepalived's include_file_t: one entry of the include stack.
type frame struct {
	st   *stream
	glob *globFrame // nil for a frame the copy's "# NAME" line pushed
	tree *tree
	dir  string // the working directory while this frame is on top
	name string // display name of the file being read
}

// globFrame is the glob of one include (or of the main file).
type globFrame struct {
	pattern string
	pos     Pos
	typ     includeType
	matches []globMatch
	next    int
	opened  int
}

// A definition is a $NAME=value definition (keepalived's def_t).
type definition struct {
	name      string
	value     string
	multiline bool
	// builtin computes the value of keepalived's standard definitions
	// (set_std_definitions).
	builtin   func(p *pass, d *definition) string
	maxParams int
	params    string // ${_RANDOM MIN MAX}'s parameters, if given
	hasParams bool
}

// seqEntry is an active ~SEQ or ~LST (keepalived's seq_t).
type seqEntry struct {
	variable string
	next     int64
	step     int64
	left     int64 // values still to produce
	hex      bool
	text     string
	// ~LST: the variables and the value sets still to produce.
	lstVars []string
	lstSets [][]string
}

// cursor points into a multi-line definition's value (keepalived's
// next_ptr).
type cursor struct {
	value string
	off   int
}

// pass is one reading of the configuration: the parent's (from the files,
// writing the copy) or a child's (from the copy).
type pass struct {
	rd    *reader
	child bool
	// copy is what the parent pass writes.
	copy []copyRec

	frames     []*frame
	defs       map[string]*definition
	seqs       []*seqEntry
	mlStack    []*cursor
	mlSeqDepth int
	next       *cursor
	residue    []byte
	hasResidue bool
	def        *definition // read_line()'s static def
	blockDepth int
	lastPos    Pos
	expanded   bool // the line being built went through an expansion
	out        []Line
	crashed    bool
	scratch    []byte
	bytes      int // of the lines produced
	// inDefinition is read_line's multiline_param_def: a multi-line
	// definition is being read.
	inDefinition bool
}

func newPass(rd *reader, child bool) *pass {
	p := &pass{rd: rd, child: child, defs: map[string]*definition{}}
	// set_std_definitions
	p.defs["_PWD"] = &definition{name: "_PWD", builtin: func(p *pass, _ *definition) string { return p.pwd() }}
	p.defs["_INSTANCE"] = &definition{name: "_INSTANCE", builtin: func(p *pass, _ *definition) string { return p.rd.opts.ConfigID }}
	p.defs["_RANDOM"] = &definition{name: "_RANDOM", builtin: (*pass).random, maxParams: 2}
	p.defs["_HASH"] = &definition{name: "_HASH", value: "#"}
	p.defs["_BANG"] = &definition{name: "_BANG", value: "!"}
	return p
}

// run reads every logical line.
func (p *pass) run() error {
	for {
		line, ok := p.readLine()
		if p.rd.err != nil {
			return p.rd.err
		}
		if !ok {
			break
		}
		p.emit(line)
		if p.rd.err != nil {
			return p.rd.err
		}
	}
	if p.blockDepth > 0 {
		// init_data reports no line; the reader names the last one read.
		p.rd.problem(p.lastPos, fmt.Sprintf("There are %d missing '}'s or extra '{'s: the configuration ends inside a block", p.blockDepth))
	}
	p.markShared()
	return nil
}

func (p *pass) emit(text []byte) {
	p.bytes += len(text) + 1
	if p.bytes > MaxExpandedBytes {
		p.rd.fail("MaxExpandedBytes", MaxExpandedBytes, p.lastPos, "the configuration expands to more bytes")
		return
	}
	p.out = append(p.out, Line{Text: string(text), Pos: p.lastPos, Expanded: p.expanded})
}

// markShared marks the lines that share their physical line.
func (p *pass) markShared() {
	for i := range p.out {
		if (i > 0 && p.out[i-1].Pos == p.out[i].Pos) || (i+1 < len(p.out) && p.out[i+1].Pos == p.out[i].Pos) {
			p.out[i].Shared = true
		}
	}
}

// top is the frame being read.
func (p *pass) top() *frame {
	if len(p.frames) == 0 {
		return nil
	}
	return p.frames[len(p.frames)-1]
}

// pwd is keepalived's working directory, as ${_PWD} shows it: the
// directory of the file being read (open_conf_file chdir()s there).
func (p *pass) pwd() string {
	f := p.top()
	if f == nil {
		return ""
	}
	if f.tree.abs != "" {
		return path.Join(f.tree.abs, f.dir)
	}
	return f.tree.display(f.dir)
}

// random is ${_RANDOM [MIN [MAX]]} (get_random). The reader is
// deterministic: it takes MIN, and says so.
func (p *pass) random(d *definition) string {
	lo, hi := uint64(0), uint64(32767)
	if d.hasParams {
		fields := strings.Fields(d.params)
		if len(fields) > 0 {
			lo, _ = strconv.ParseUint(fields[0], 10, 64)
		}
		if len(fields) > 1 {
			hi, _ = strconv.ParseUint(fields[1], 10, 64)
		}
	}
	if hi+1 == lo {
		p.rd.problem(p.lastPos, fmt.Sprintf("${_RANDOM %d %d}: keepalived 2.2.7 divides by zero here and crashes", lo, hi))
	} else {
		p.rd.problem(p.lastPos, fmt.Sprintf("${_RANDOM}: keepalived draws a new number at each start; the reader used %d", lo))
	}
	return strconv.FormatUint(lo, 10)
}

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

// physical reads the next non-empty physical line (the fgets() loop of
// read_line): nil at the end of every file.
func (p *pass) physical() []byte {
	for {
		f := p.top()
		if f == nil {
			return nil
		}
		if f.st.closed {
			// A "# …" line of a file a child includes itself pushed a
			// frame on the same stream; its end closed the stream, and
			// keepalived reads it again after freeing it.
			p.crash(p.lastPos, "keepalived 2.2.7's VRRP and checker processes crash reading this configuration (double free): a file included behind an @ID or $NAME line has a line starting with '#' and no later line starting with '!'; start comments with a blank, or include it on a line of its own")
			return nil
		}
		var raw []byte
		var pos Pos
		var rec *copyRec
		if f.st.copy {
			if f.st.next >= len(f.st.recs) {
				if !p.nextFile() {
					return nil
				}
				continue
			}
			rec = &f.st.recs[f.st.next]
			f.st.next++
			raw = []byte(rec.text + "\n")
			pos = rec.pos
		} else {
			if f.st.next >= len(f.st.chunks) {
				if !p.nextFile() {
					return nil
				}
				continue
			}
			c := f.st.chunks[f.st.next]
			f.st.next++
			raw = c.raw
			pos = Pos{File: f.st.name, Line: c.line}
		}
		if i := bytes.IndexByte(raw, 0); i >= 0 {
			raw = raw[:i] // fgets() keeps it, strlen() stops there
		}
		if p.child && len(raw) > 0 && (raw[0] == '#' || raw[0] == '!') {
			if p.copyMarker(raw, rec) {
				continue
			}
			return nil
		}
		if rec == nil || rec.pos.File != "" {
			p.lastPos = pos
		}
		n := len(raw)
		for n > 0 && (raw[n-1] == '\n' || raw[n-1] == '\r') {
			n--
		}
		if n == 0 {
			if !p.child {
				p.copy = append(p.copy, copyRec{pos: pos})
			}
			if p.def != nil && p.inDefinition {
				p.inDefinition = false
				if p.def.value == "" {
					p.def.multiline = false
				}
			}
			continue
		}
		line, unterminated := decomment(raw[:n])
		if unterminated && !p.child {
			p.rd.problem(pos, fmt.Sprintf("Unterminated quote '%s'", line))
		}
		if !p.child {
			text := string(line)
			if isInclude(line) {
				text = ""
			}
			p.copy = append(p.copy, copyRec{text: text, pos: pos})
		}
		if len(line) > 0 {
			return line
		}
	}
}

// copyMarker handles a line starting with '#' or '!' in a child, where
// keepalived takes every such line for a mark of the copy, even in a file
// the child reads itself (read_line, read_conf_copy). false: stop.
func (p *pass) copyMarker(raw []byte, rec *copyRec) bool {
	if raw[0] == '#' {
		if len(raw) > 1 && raw[1] == '!' {
			return true
		}
		name := strings.TrimSuffix(string(raw), "\n")
		if len(name) > 2 {
			name = name[2:]
		} else {
			name = ""
		}
		below := p.top()
		nf := &frame{st: below.st, tree: below.tree, dir: below.dir, name: name}
		if rec != nil && rec.file != nil {
			nf.tree, nf.dir, nf.name = rec.file.tree, path.Dir(rec.file.path), rec.file.tree.display(rec.file.path)
		} else if strings.Contains(name, "/") {
			if d, ok := joinLiteral(below.dir, path.Dir(name)); ok && below.tree.isDir(d) {
				nf.dir = d
			}
		}
		if len(p.frames) >= MaxIncludeDepth+2 {
			p.rd.fail("MaxIncludeDepth", MaxIncludeDepth, p.lastPos, "includes nest deeper")
			return false
		}
		p.frames = append(p.frames, nf)
		return true
	}
	// '!': the end of a file.
	if len(p.frames) <= 1 {
		p.crash(p.lastPos, "keepalived 2.2.7's VRRP and checker processes crash reading this configuration: a line starting with '!' (a \\! at the start of a line?) closes a file that is not open")
		return false
	}
	p.frames = p.frames[:len(p.frames)-1]
	return true
}

func (p *pass) crash(pos Pos, msg string) {
	if !p.crashed {
		p.rd.problem(pos, msg)
	}
	p.crashed = true
	p.frames = nil
}

// readLine is read_line(): the next logical line, false at the end.
func (p *pass) readLine() ([]byte, bool) {
	inDefinition := false
	var buf []byte
	for {
		p.expanded = false
		switch {
		case p.hasResidue:
			buf = p.residue
			p.residue, p.hasResidue = nil, false
		case len(p.seqs) > 0 && len(p.seqs) > p.mlSeqDepth:
			buf = p.nextSeq()
			p.expanded = true
		case p.next != nil:
			buf = p.nextMultiline()
			p.expanded = true
		default:
			p.inDefinition = inDefinition
			buf = p.physical()
			inDefinition = p.inDefinition
			if buf == nil {
				return nil, false
			}
		}
		if p.rd.err != nil {
			return nil, false
		}
		if inDefinition {
			inDefinition = p.continueDefinition(buf)
			continue
		}
		if len(buf) == 0 {
			continue
		}
		buf, inDefinition = p.process(buf)
		if p.rd.err != nil {
			return nil, false
		}
		if len(buf) == 0 || p.checkInclude(buf) {
			continue
		}
		break
	}
	return p.splitBrace(buf), true
}

// continueDefinition adds a line to a multi-line definition (read_line):
// a line ending in '\' continues it; any other line is its last.
func (p *pass) continueDefinition(buf []byte) bool {
	n := len(buf)
	more := false
	if n > 0 && buf[n-1] == '\\' {
		n--
		for n >= 1 && isBlank(buf[n-1]) {
			n--
		}
		buf = append(buf[:n:n], '\n')
		n++
		more = true
	} else if p.def.value == "" {
		p.def.multiline = false
	}
	// Don't add blank lines
	if n >= 2 || (n > 0 && !more) {
		p.def.value += string(buf[:n])
	}
	return more
}

// process is the part of read_line that handles @ID, $NAME=value, ~SEQ,
// ~LST and $NAME substitution, until nothing changes. It returns the
// line (empty when nothing is left of it) and whether a multi-line
// definition started.
func (p *pass) process(buf []byte) ([]byte, bool) {
	for {
		recheck := false
		if len(buf) > 0 && buf[0] == '@' {
			rev, ofs := false, 1
			if len(buf) > 1 && buf[1] == '^' {
				rev, ofs = true, 2
			}
			sp := bytes.IndexAny(buf[ofs:], " \t")
			if sp < 0 {
				return nil, false // nothing after the id
			}
			id := string(buf[ofs : ofs+sp])
			differs := p.rd.opts.NoConfigID || id != p.rd.opts.ConfigID
			if differs != rev {
				return nil, false
			}
			rest := buf[ofs+sp:]
			buf = rest[spn(rest, " \t"):]
		}
		if len(buf) > 0 && buf[0] == '$' {
			if d := p.checkDefinition(buf); d != nil {
				return nil, d.multiline
			}
		}
		if bytes.HasPrefix(buf, []byte("~SEQ")) || bytes.HasPrefix(buf, []byte("~LST")) {
			var ok bool
			if buf[1] == 'S' {
				ok = p.addSeq(buf)
			} else {
				ok = p.addLst(buf)
			}
			if !ok && p.rd.err == nil {
				kind := "~SEQ"
				if buf[1] == 'L' {
					kind = "~LST"
				}
				p.rd.problem(p.lastPos, fmt.Sprintf("Invalid %s specification '%s'", kind, buf))
			}
			return nil, false
		}
		if len(buf) > 0 && buf[0] == '~' {
			return buf, false
		}
		if bytes.IndexByte(buf, '$') >= 0 {
			nb, changed := p.replaceParam(buf, maxBuf, &p.next)
			if p.rd.err != nil {
				return nil, false
			}
			if !changed {
				return nb, false
			}
			p.expanded = true
			buf, _ = decomment(nb)
			if len(buf) > 0 && buf[0] == '@' {
				recheck = true
			}
			if bytes.IndexByte(buf, '$') >= 0 {
				recheck = true
			}
		}
		if !recheck {
			return buf, false
		}
	}
}

// splitBrace is the end of read_line: the first '{' or '}' outside
// double quotes ends the line, and the rest is read as the next line.
func (p *pass) splitBrace(buf []byte) []byte {
	at := 0
	if buf[0] != '{' && buf[0] != '}' {
		at = -1
		for i := 0; i < len(buf); i++ {
			if buf[i] == '{' || buf[i] == '}' {
				at = i
				break
			}
			if buf[i] == '"' {
				q := bytes.IndexByte(buf[i+1:], '"')
				if q < 0 {
					break
				}
				i += q + 1
			}
		}
	}
	if at >= 0 {
		skip := 0
		if at == 0 {
			skip = spn(buf[1:], " \t") + 1
		}
		if at+skip < len(buf) {
			rest := bytes.TrimRight(buf[at+skip:], " \t")
			p.residue, p.hasResidue = append([]byte(nil), rest...), true
			buf = buf[:at+skip]
		}
	}
	buf = bytes.TrimRight(buf, " \t")
	switch string(buf) {
	case "{":
		p.blockDepth++
	case "}":
		p.blockDepth--
		if p.blockDepth < 0 {
			p.rd.problem(p.lastPos, "Extra '}' found")
			p.blockDepth = 0
		}
	}
	return buf
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

// decomment is decomment(): it strips leading and trailing blanks and a
// comment ('!' or '#' outside double quotes), unescapes \# and \! outside
// quotes, and keeps a trailing '\' (a continued definition). Single
// quotes do not protect a comment character.
func decomment(in []byte) ([]byte, bool) {
	s := append([]byte(nil), in[spn(in, " \t"):]...)
	quote, cont := false, false
	skip := -1
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			if skip < 0 {
				quote = !quote
			}
		case '\\':
			if i+1 < len(s) {
				if !quote && (s[i+1] == '#' || s[i+1] == '!') {
					s = append(s[:i], s[i+1:]...)
				} else {
					i++
				}
				continue
			}
			s = s[:i]
			cont = true
		case '!', '#':
			if !quote && skip < 0 {
				skip = i
			}
		}
	}
	if skip >= 0 && skip < len(s) {
		s = s[:skip]
	}
	s = bytes.TrimRight(s, " \t")
	if cont {
		s = append(s, '\\')
	}
	return s, quote
}

// checkDefinition is check_definition: $NAME=value (no blank before the
// '='; blanks after it skipped; a trailing '\' starts a multi-line value).
func (p *pass) checkDefinition(buf []byte) *definition {
	if len(buf) < 2 || !(isAlpha(buf[1]) || buf[1] == '_') {
		return nil
	}
	i := 2
	for i < len(buf) && buf[i] != '=' {
		if !isAlnum(buf[i]) && buf[i] != '_' {
			return nil
		}
		i++
	}
	if i >= len(buf) {
		return nil
	}
	name := string(buf[1:i])
	d := p.defs[name]
	if d == nil {
		d = &definition{name: name}
		p.defs[name] = d
	}
	d.builtin = nil
	val := buf[i+1:]
	val = val[spn(val, " \t"):]
	n := len(val)
	if n > 0 && val[n-1] == '\\' {
		for n >= 2 && isBlank(val[n-2]) {
			n--
		}
		v := []byte(nil)
		if n >= 2 {
			v = append(v, val[:n]...)
			v[n-1] = '\n'
		}
		d.value = string(v)
		d.multiline = true
	} else {
		d.value = string(val)
		d.multiline = false
	}
	p.def = d
	p.rd.definitions = append(p.rd.definitions, Definition{Name: name, Value: d.value, Pos: p.lastPos, Child: p.child})
	return d
}

// setDefinition is set_definition, for ~SEQ and ~LST variables.
func (p *pass) setDefinition(name, value string) {
	if name == "" || !(isAlpha(name[0]) || name[0] == '_') {
		return // find_definition() never finds such a name
	}
	d := p.defs[name]
	if d == nil {
		d = &definition{name: name}
		p.defs[name] = d
	}
	d.value, d.builtin = value, nil
}

// findUse is find_definition for a use of a name: s starts after the '$'.
func (p *pass) findUse(s []byte) (d *definition, paramsEnd int) {
	braces := false
	i := 0
	if i < len(s) && s[i] == '{' {
		braces = true
		i++
	}
	if i >= len(s) || !(isAlpha(s[i]) || s[i] == '_') {
		return nil, 0
	}
	start := i
	for i++; i < len(s) && (isAlnum(s[i]) || s[i] == '_'); i++ {
	}
	name := string(s[start:i])
	nameEnd := i
	paramStart, pEnd := -1, -1
	if braces {
		for i < len(s) && (s[i] == ' ' || isDigit(s[i])) {
			if s[i] != ' ' {
				if paramStart < 0 {
					paramStart = i
				}
				pEnd = i
			}
			i++
		}
		if paramStart >= 0 && pEnd+1 != i {
			return nil, 0
		}
		if i >= len(s) || s[i] != '}' {
			return nil, 0
		}
	} else if i < len(s) && s[i] != ' ' && s[i] != '\t' && s[i] != ',' && s[i] != ')' {
		return nil, 0
	}
	allowMultiline := (!braces && nameEnd == len(s)) || (braces && nameEnd+1 == len(s))
	d = p.defs[name]
	if d == nil || (!allowMultiline && d.multiline) {
		return nil, 0
	}
	if paramStart >= 0 {
		if d.maxParams == 0 {
			return nil, 0
		}
		d.params, d.hasParams = string(s[paramStart:pEnd+1]), true
		return d, pEnd
	}
	d.params, d.hasParams = "", false
	return d, 0
}

// replaceParam is replace_param: it substitutes every $NAME and ${NAME}
// on the line, rescanning each substituted value, in a buffer of maxLen
// bytes. A substitution that would not fit stops it: false, with the
// substitutions made so far left in place (keepalived then stops
// processing the line). It moves bytes as keepalived does, so that the
// ${_RANDOM MIN MAX} bug that corrupts the rest of its line shows here
// too.
func (p *pass) replaceParam(line []byte, maxLen int, multiline **cursor) ([]byte, bool) {
	// A C string in a buffer of maxLen bytes, NUL-terminated (a scratch
	// buffer of the pass: a line is substituted every few lines).
	need := max(maxLen, len(line)+1) + 1
	if cap(p.scratch) < need {
		p.scratch = make([]byte, need)
	}
	buf := p.scratch[:need]
	copy(buf, line)
	buf[len(line)] = 0
	clen := func() int { return bytes.IndexByte(buf, 0) }
	used := len(line)
	found := false
	mlPtr := *multiline
	var nextPtr *cursor
	cur := 0
	steps := 0
	for {
		i := bytes.IndexByte(buf[cur:clen()], '$')
		if i < 0 {
			break
		}
		cur += i
		if buf[cur+1] == 0 {
			break
		}
		d, paramsEnd := p.findUse(buf[cur+1 : clen()])
		if d == nil {
			cur++
			continue
		}
		steps++
		p.rd.substitutions++
		if steps > MaxExpansionDepth {
			p.rd.fail("MaxExpansionDepth", MaxExpansionDepth, p.lastPos, "a line substitutes $NAME more often (definitions that name each other?)")
			return nil, false
		}
		if p.rd.substitutions > MaxSubstitutions {
			p.rd.fail("MaxSubstitutions", MaxSubstitutions, p.lastPos, "the configuration substitutes $NAME more often")
			return nil, false
		}
		found = true
		extra := 0
		if buf[cur+1] == '{' {
			extra = 2
		}
		nextPtr = mlPtr
		if d.multiline && mlPtr != nil {
			p.mlStack = append(p.mlStack, mlPtr)
		}
		if d.multiline {
			p.mlSeqDepth = len(p.seqs)
		}
		if d.builtin != nil {
			d.value = d.builtin(p, d)
		}
		replaced := len(d.name)
		var replacing int
		if d.multiline {
			replacing = strings.IndexByte(d.value, '\n')
			if replacing < 0 {
				replacing = len(d.value)
			}
			nextPtr = &cursor{value: d.value, off: replacing + 1}
			mlPtr = nextPtr
		} else {
			if d.hasParams {
				// paramsEnd is relative to cur+1
				replaced = paramsEnd
				if extra == 0 {
					replaced++
				}
			}
			replacing = len(d.value)
		}
		total := replaced + 1 + extra
		if used+replacing-total >= maxLen {
			// keepalived logs "Parameter substitution on line '%s' would
			// exceed maximum line length" and gives up on the line.
			p.rd.problem(p.lastPos, fmt.Sprintf("substituting $%s would make the line longer than keepalived's %d bytes: keepalived stops substituting on this line", d.name, maxLen-1))
			out := append([]byte(nil), buf[:clen()]...)
			return out, false
		}
		if total != replacing {
			if total < replacing {
				// lengthening: move the tail right, NUL included
				end := clen()
				grow := replacing - total
				copy(buf[cur+replacing:end+grow+1], buf[cur+total:end+1])
			} else {
				// shortening: move left from s to d until s reaches e
				s := cur + total - replacing
				dst := cur
				e := clen()
				if d.hasParams {
					e = cur + 1 + paramsEnd + 1
					if extra > 0 {
						e++
					}
				}
				for {
					buf[dst] = buf[s]
					if s >= e {
						break
					}
					dst++
					s++
				}
			}
			used = used + replacing - total
		}
		copy(buf[cur:cur+replacing], d.value[:min(replacing, len(d.value))])
		if v := strings.TrimLeft(d.value, " \t"); v != "" && v[0] == '~' {
			break
		}
	}
	if found {
		*multiline = nextPtr
	}
	return append([]byte(nil), buf[:clen()]...), found
}

// nextMultiline copies the next line of a multi-line definition being
// expanded (read_line).
func (p *pass) nextMultiline() []byte {
	c := p.next
	rest := ""
	if c.off <= len(c.value) {
		rest = c.value[c.off:]
	}
	if i := strings.IndexByte(rest, '\n'); i >= 0 {
		p.next = &cursor{value: c.value, off: c.off + i + 1}
		return []byte(rest[:i])
	}
	if n := len(p.mlStack); n > 0 {
		p.next = p.mlStack[n-1]
		p.mlStack = p.mlStack[:n-1]
	} else {
		p.next = nil
		p.mlSeqDepth = 0
	}
	return []byte(rest)
}

// nextSeq produces the next line of the innermost ~SEQ or ~LST.
func (p *pass) nextSeq() []byte {
	s := p.seqs[len(p.seqs)-1]
	if s.lstVars == nil {
		v := strconv.FormatInt(s.next, 10)
		if s.hex {
			v = strconv.FormatUint(uint64(s.next), 16)
		}
		p.setDefinition(s.variable, v)
		s.next += s.step
		s.left--
		if s.left <= 0 {
			p.seqs = p.seqs[:len(p.seqs)-1]
		}
		return []byte(s.text)
	}
	set := s.lstSets[0]
	for i, name := range s.lstVars {
		p.setDefinition(name, set[i])
	}
	s.lstSets = s.lstSets[1:]
	if len(s.lstSets) == 0 {
		p.seqs = p.seqs[:len(p.seqs)-1]
	}
	return []byte(s.text)
}

// addSeq is add_seq: ~SEQ[x](VAR, [START, [STEP,]] END) TEXT.
func (p *pass) addSeq(buf []byte) bool {
	at := func(i int) byte {
		if i < len(buf) {
			return buf[i]
		}
		return 0
	}
	i := 4
	hex := false
	if at(i) == 'x' {
		i++
		hex = true
	}
	i += spn(buf[min(i, len(buf)):], " \t")
	if at(i) != '(' {
		return false
	}
	i++
	i += spn(buf[min(i, len(buf)):], " \t")
	varStart := i
	i += cspn(buf[min(i, len(buf)):], " \t,)")
	varEnd := i
	i += spn(buf[min(i, len(buf)):], " \t")
	if at(i) == 0 || at(i) == ')' || i == varStart {
		p.rd.problem(p.lastPos, fmt.Sprintf("Invalid ~SEQ definition '%s'", buf))
		return false
	}
	i++
	i += spn(buf[min(i, len(buf)):], " \t")
	end := bytes.IndexByte(buf[min(i, len(buf)):], ')')
	if end < 0 || end+2 > 64 {
		p.rd.problem(p.lastPos, fmt.Sprintf("~SEQ parameter strings too long '%s'", buf))
		return false
	}
	end += i
	var ml *cursor
	params, _ := p.replaceParam(buf[i:end+1], 64, &ml)
	if p.rd.err != nil {
		return false
	}
	if ml != nil {
		p.rd.problem(p.lastPos, fmt.Sprintf("~SEQ parameter is multiline definition '%s'", buf))
		return false
	}
	params = append(params, 0)
	var start, step, last int64
	one, j := strtol(string(params), 0)
	j += spn(params[j:], " \t")
	switch {
	case params[j] == ')':
		last = one
		step = 1
		if last < 1 {
			step = -1
		}
		start = 1
		if last < 0 {
			start = -1
		}
	case params[j] != ',':
		p.rd.problem(p.lastPos, fmt.Sprintf("Invalid ~SEQ definition '%s'", buf))
		return false
	default:
		j++
		two, k := strtol(string(params[j:]), 0)
		j += k
		j += spn(params[j:], " \t")
		if params[j] == ')' {
			start, last = one, two
			step = 1
			if start > last {
				step = -1
			}
			break
		}
		if params[j] != ',' {
			p.rd.problem(p.lastPos, fmt.Sprintf("Invalid ~SEQ definition '%s'", buf))
			return false
		}
		j++
		three, k := strtol(string(params[j:]), 0)
		j += k
		j += spn(params[j:], " \t")
		if params[j] != ')' {
			p.rd.problem(p.lastPos, fmt.Sprintf("Invalid ~SEQ definition '%s'", buf))
			return false
		}
		start, step, last = one, two, three
		if step == 0 || (start < last && step < 0) || (start > last && step > 0) {
			p.rd.problem(p.lastPos, fmt.Sprintf("Invalid ~SEQ values '%s'", buf))
			return false
		}
	}
	if hex && (start < 0 || last < 0) {
		p.rd.problem(p.lastPos, fmt.Sprintf("~SEQx is only valid for positive numbers '%s'", buf))
		return false
	}
	count, ok := seqCount(start, step, last)
	if !ok || count > MaxSeqElements {
		p.rd.fail("MaxSeqElements", MaxSeqElements, p.lastPos, "a ~SEQ takes more values")
		return false
	}
	k := end + 1
	k += spn(buf[min(k, len(buf)):], " \t")
	p.seqs = append(p.seqs, &seqEntry{variable: string(buf[varStart:varEnd]), next: start, step: step, left: count, hex: hex, text: string(buf[min(k, len(buf)):])})
	return true
}

// seqCount is how many values a ~SEQ takes (keepalived counts until the
// value passes the end; a value that overflows a long is undefined in C).
func seqCount(start, step, last int64) (int64, bool) {
	if (step > 0 && start > last) || (step < 0 && start < last) {
		return 1, true
	}
	span := uint64(last - start)
	if step < 0 {
		span = uint64(start - last)
	}
	abs := uint64(step)
	if step < 0 {
		abs = uint64(-step)
	}
	n := span/abs + 1
	if n > MaxSeqElements {
		return 0, false
	}
	return int64(n), true
}

// addLst is add_lst: ~LST(VAR, V1, V2 …) or ~LST({V1,V2}, {A,B}, {C,D}) TEXT.
func (p *pass) addLst(buf []byte) bool {
	at := func(i int) byte {
		if i < len(buf) {
			return buf[i]
		}
		return 0
	}
	sp := func(i int) int { return i + spn(buf[min(i, len(buf)):], " \t") }
	i := sp(4)
	if at(i) != '(' {
		return false
	}
	i = sp(i + 1)
	endChar := byte(',')
	if at(i) == '{' {
		endChar = '}'
		i = sp(i + 1)
	}
	var vars []string
	for {
		s := i
		i += cspn(buf[min(i, len(buf)):], " \t,}")
		vars = append(vars, string(buf[s:i]))
		i = sp(i)
		if at(i) == endChar {
			break
		}
		if at(i) != ',' {
			return false
		}
		i = sp(i + 1)
	}
	if at(i) == '}' {
		i = sp(i + 1)
	}
	if at(i) != ',' {
		return false
	}
	i = sp(i + 1)
	var sets [][]string
	for {
		endChar = ','
		if at(i) == '{' {
			endChar = '}'
			i = sp(i + 1)
		}
		var set []string
		for {
			s := i
			i += cspn(buf[min(i, len(buf)):], " \t,})")
			set = append(set, string(buf[s:i]))
			i = sp(i)
			if at(i) == endChar || (at(i) == ')' && endChar == ',') {
				break
			}
			if at(i) != ',' {
				return false
			}
			i = sp(i + 1)
			if len(set) > len(vars)-1 {
				p.rd.problem(p.lastPos, fmt.Sprintf("~LST specification has too many values '%s'", buf))
				return false
			}
		}
		for len(set) < len(vars) {
			set = append(set, "")
		}
		sets = append(sets, set)
		if len(sets) > MaxSeqElements {
			p.rd.fail("MaxSeqElements", MaxSeqElements, p.lastPos, "a ~LST takes more values")
			return false
		}
		if at(i) == '}' && endChar == '}' {
			i = sp(i + 1)
		}
		if at(i) == ')' {
			break
		}
		if at(i) != ',' {
			return false
		}
		i = sp(i + 1)
	}
	i = sp(i + 1)
	p.seqs = append(p.seqs, &seqEntry{lstVars: vars, lstSets: sets, text: string(buf[min(i, len(buf)):])})
	return true
}

func spn(s []byte, set string) int {
	i := 0
	for i < len(s) && strings.IndexByte(set, s[i]) >= 0 {
		i++
	}
	return i
}

func cspn(s []byte, set string) int {
	i := 0
	for i < len(s) && s[i] != 0 && strings.IndexByte(set, s[i]) < 0 {
		i++
	}
	return i
}

func isBlank(c byte) bool  { return c == ' ' || c == '\t' }
func isSpace(c byte) bool  { return c == ' ' || ('\t' <= c && c <= '\r') }
func isDigit(c byte) bool  { return '0' <= c && c <= '9' }
func isAlpha(c byte) bool  { return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') }
func isAlnum(c byte) bool  { return isAlpha(c) || isDigit(c) }
func isXDigit(c byte) bool { return isDigit(c) || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F') }
