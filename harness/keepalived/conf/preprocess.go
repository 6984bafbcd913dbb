package conf

import (
	"bytes"
	"fmt"
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
