package conf

import (
	"fmt"
	"slices"
	"strings"
)

// Process is one of keepalived's processes: each reads the configuration
// with its own keyword table, and skips the blocks another one owns by
// counting braces.
type Process uint8

const (
	// ParentProcess reads global_defs and the few top-level global keywords.
	ParentProcess Process = iota
	// VRRPProcess reads vrrp_instance, vrrp_sync_group, vrrp_script and the
	// other VRRP blocks (the parent's view of global_defs is inherited).
	VRRPProcess
	// CheckerProcess reads virtual_server, virtual_server_group and SSL.
	CheckerProcess
)

func (p Process) String() string {
	switch p {
	case ParentProcess:
		return "parent"
	case VRRPProcess:
		return "vrrp"
	case CheckerProcess:
		return "checker"
	}
	return fmt.Sprintf("process(%d)", uint8(p))
}

// NodeKind says how keepalived reads what follows a keyword.
type NodeKind uint8

const (
	// Plain is a keyword with its arguments on its line.
	Plain NodeKind = iota
	// Block is a keyword followed by a block of keywords.
	Block
	// Values is a keyword followed by a block of values, one entry a line
	// (keepalived's alloc_value_block).
	Values
	// Entry is one line of a Values block.
	Entry
	// UnknownKeyword is a keyword the process does not know: keepalived
	// logs "Unknown keyword" and reads on at the same level.
	UnknownKeyword
)

// A Node is one keyword line of the block tree and what keepalived read
// with it.
type Node struct {
	Keyword string
	// Args are the words after the keyword (keepalived's alloc_strvec():
	// split on blanks, a double-quoted string one word without its
	// quotes).
	Args []string
	Kind NodeKind
	Line Line
	// Children are a Block's keywords or a Values block's entries.
	Children []*Node
	// Skipped says keepalived skipped the block (its handler refused the
	// keyword, e.g. a second vrrp_instance of the same name).
	Skipped bool
}

// Find returns the children with the given keyword.
func (n *Node) Find(keyword string) []*Node {
	var out []*Node
	for _, c := range n.Children {
		if c.Keyword == keyword {
			out = append(out, c)
		}
	}
	return out
}

// keyword is an entry of the keyword table.
type keyword struct {
	name  string
	kind  NodeKind
	sub   map[string]*keyword
	procs []Process // top-level keywords: the processes that read its block
}

// grammar227 is keywords227 parsed.
var grammar227 = mustParseGrammar(keywords227, keywordParts227)

func mustParseGrammar(text string, parts map[string]string) map[string]*keyword {
	g, err := parseGrammar(text, parts)
	if err != nil {
		panic("conf: the built-in keyword table is malformed: " + err.Error())
	}
	return g
}

// expandParts replaces each "*PART" line by the part's lines at its indent.
func expandParts(text string, parts map[string]string, depth int) (string, error) {
	if depth > 8 {
		return "", fmt.Errorf("parts nest too deep")
	}
	var b strings.Builder
	for _, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimLeft(line, " ")
		if !strings.HasPrefix(trimmed, "*") {
			b.WriteString(line + "\n")
			continue
		}
		part, ok := parts[trimmed[1:]]
		if !ok {
			return "", fmt.Errorf("no part %q", trimmed[1:])
		}
		part, err := expandParts(strings.TrimSuffix(part, "\n"), parts, depth+1)
		if err != nil {
			return "", err
		}
		indent := line[:len(line)-len(trimmed)]
		for _, p := range strings.Split(strings.TrimSuffix(part, "\n"), "\n") {
			b.WriteString(indent + p + "\n")
		}
	}
	return b.String(), nil
}

func parseGrammar(text string, parts map[string]string) (map[string]*keyword, error) {
	text, err := expandParts(text, parts, 0)
	if err != nil {
		return nil, err
	}
	roots := map[string]*keyword{}
	var stack []*keyword
	var procs []Process
	for n, line := range strings.Split(text, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		if strings.HasPrefix(line, "@") {
			switch line[1:] {
			case "global":
				procs = []Process{ParentProcess}
			case "vrrp":
				procs = []Process{VRRPProcess}
			case "check":
				procs = []Process{CheckerProcess}
			case "bfd", "track":
				procs = []Process{VRRPProcess, CheckerProcess}
			default:
				return nil, fmt.Errorf("line %d: unknown process %q", n+1, line)
			}
			continue
		}
		indent := len(line) - len(strings.TrimLeft(line, " "))
		if indent%2 != 0 || indent/2 > len(stack) {
			return nil, fmt.Errorf("line %d: bad indent", n+1)
		}
		level := indent / 2
		stack = stack[:level]
		fields := strings.Fields(line)
		k := &keyword{name: fields[0]}
		if len(fields) > 1 {
			switch fields[1] {
			case "{":
				k.kind = Block
				k.sub = map[string]*keyword{}
			case "[":
				k.kind = Values
			default:
				return nil, fmt.Errorf("line %d: unknown kind %q", n+1, fields[1])
			}
		}
		if level == 0 {
			k.procs = procs
			roots[k.name] = k
		} else {
			parent := stack[level-1]
			if parent.sub == nil {
				return nil, fmt.Errorf("line %d: %s has no block", n+1, parent.name)
			}
			parent.sub[k.name] = k
		}
		stack = append(stack, k)
	}
	return roots, nil
}

// tokens is alloc_strvec_r(), appending to words: words split on blanks; a double-quoted
// string is one word without its quotes, and a '"' inside a word ends the
// word. An unmatched quote ends the line.
func tokens(words []string, s string) (_ []string, unmatched bool) {
	const white = " \t\f\n\r\v"
	i := 0
	for {
		for i < len(s) && strings.IndexByte(white, s[i]) >= 0 {
			i++
		}
		if i >= len(s) {
			return words, false
		}
		if s[i] == '"' {
			end := strings.IndexByte(s[i+1:], '"')
			if end < 0 {
				return words, true
			}
			words = append(words, s[i+1:i+1+end])
			i += end + 2
			continue
		}
		start := i
		for i < len(s) && s[i] != '"' && strings.IndexByte(white, s[i]) < 0 {
			i++
		}
		words = append(words, s[start:i])
	}
}

// tokenized are logical lines split into words once, for every process
// that reads them.
type tokenized struct {
	lines []Line
	words [][]string
}

func tokenize(rd *reader, lines []Line) *tokenized {
	t := &tokenized{lines: lines, words: make([][]string, len(lines))}
	var arena []string // the words of many lines share an array
	for i, l := range lines {
		if cap(arena)-len(arena) < 64 {
			arena = make([]string, 0, 4096)
		}
		start := len(arena)
		var unmatched bool
		arena, unmatched = tokens(arena, l.Text)
		if unmatched {
			rd.problem(l.Pos, fmt.Sprintf("Unmatched quote: '%s'", l.Text))
		}
		t.words[i] = arena[start:len(arena):len(arena)]
	}
	return t
}

// builder is keepalived's process_stream() for one process.
type builder struct {
	rd   *reader
	proc Process
	in   *tokenized
	i    int
	slab []Node
	// skip is process_stream's skip_sublevel: -1 waits for the "{" of a
	// block to skip, > 0 counts the braces of the block being skipped.
	skip    int
	level   int
	unknown []Keyword
	// names of the blocks seen, for the handlers that refuse a second
	// one of a name.
	seen map[string]bool
}

// next reads the next line that has words.
func (b *builder) next() (Line, []string, bool) {
	for b.i < len(b.in.lines) {
		b.i++
		if words := b.in.words[b.i-1]; len(words) > 0 {
			return b.in.lines[b.i-1], words, true
		}
	}
	return Line{}, nil, false
}

// node allocates a node from a slab: a big file has a node a line.
func (b *builder) node(n Node) *Node {
	if len(b.slab) == 0 {
		b.slab = make([]Node, 256)
	}
	p := &b.slab[0]
	*p = n
	b.slab = b.slab[1:]
	return p
}

// build reads the lines as process proc does.
func build(rd *reader, proc Process, in *tokenized) ([]*Node, []Keyword) {
	b := &builder{rd: rd, proc: proc, in: in, seen: map[string]bool{}}
	nodes, _ := b.stream(grammar227, false, nil)
	return nodes, b.unknown
}

// stream reads one level of keywords until its closing brace; true when
// it ended skipping a block its handler refused (process_stream's
// ret_err).
func (b *builder) stream(table map[string]*keyword, needBob bool, parent *keyword) ([]*Node, bool) {
	var nodes []*Node
	for {
		line, words, ok := b.next()
		if !ok {
			return nodes, false
		}
		str := words[0]
		if b.skip == -1 {
			if str == "{" {
				b.skip = 1
				needBob = false
				continue
			}
			b.skip = 0
		}
		if b.skip > 0 {
			for _, w := range words {
				str = w
				if w == "{" {
					b.skip++
				} else if w == "}" {
					b.skip--
					if b.skip == 0 {
						break
					}
				}
			}
			if str == "}" && b.skip == 0 && b.level > 0 {
				return nodes, true
			}
			continue
		}
		if needBob {
			needBob = false
			if str == "{" && b.level > 0 {
				continue
			}
			b.rd.problem(line.Pos, "Missing '{' at beginning of configuration block")
		} else if str == "{" {
			b.rd.problem(line.Pos, "Unexpected '{' - ignoring")
			continue
		}
		if str == "}" && b.level > 0 {
			return nodes, false
		}
		k := table[str]
		if k == nil {
			b.unknown = append(b.unknown, Keyword{Name: str, Pos: line.Pos, Process: b.proc})
			nodes = append(nodes, b.node(Node{Keyword: str, Args: words[1:], Kind: UnknownKeyword, Line: line}))
			continue
		}
		if b.level == 0 && !containsProc(k.procs, b.proc) {
			// An inactive block: skipped by counting braces, and its
			// keywords are not even installed.
			if words[len(words)-1] == "{" {
				b.skip = 1
			} else {
				b.skip = -1
			}
			continue
		}
		n := b.node(Node{Keyword: str, Args: words[1:], Kind: k.kind, Line: line})
		nodes = append(nodes, n)
		bobNeeded := false
		if k.kind == Block {
			if words[len(words)-1] == "{" {
				n.Args = n.Args[:len(n.Args)-1]
			} else {
				bobNeeded = true
			}
		}
		if b.refuses(n, parent, nodes[:len(nodes)-1]) {
			n.Skipped = true
			b.skip = -1
		}
		switch k.kind {
		case Values:
			if !n.Skipped {
				header := words
				if b.level == 0 && str == "virtual_server_group" {
					// vsg_handler hands alloc_value_block the words
					// after the group's name.
					header = append([]string{str}, words[min(2, len(words)):]...)
				}
				n.Children = b.values(header, line)
			}
		case Block:
			b.level++
			children, refused := b.stream(k.sub, bobNeeded, k)
			b.level--
			n.Children = children
			_ = refused
		}
	}
}

func containsProc(ps []Process, p Process) bool {
	for _, x := range ps {
		if x == p {
			return true
		}
	}
	return false
}

// refuses mirrors the handlers that skip their block (skip_block): a
// vrrp_instance, vrrp_sync_group or track_group needs exactly one name,
// not used before; a sync group takes one group block (a second one is
// skipped, and its closing brace ends the sync group); a virtual or real
// server needs an address keepalived can read. before are the keywords
// of the block read so far.
func (b *builder) refuses(n *Node, parent *keyword, before []*Node) bool {
	switch {
	case parent != nil && (parent.name == "vrrp_sync_group" || parent.name == "track_group") && n.Keyword == "group":
		for _, o := range before {
			if o.Keyword == "group" && len(o.Children) > 0 {
				b.rd.problem(n.Line.Pos, "Group list already specified for sync group")
				return true
			}
		}
	case b.level == 0 && (n.Keyword == "vrrp_instance" || n.Keyword == "vrrp_sync_group" || n.Keyword == "track_group"):
		if len(n.Args) != 1 {
			b.rd.problem(n.Line.Pos, fmt.Sprintf("%s must have a name - skipping", n.Keyword))
			return true
		}
		key := n.Keyword + " " + n.Args[0]
		if b.seen[key] {
			b.rd.problem(n.Line.Pos, fmt.Sprintf("%s %s already defined - skipping", n.Keyword, n.Args[0]))
			return true
		}
		b.seen[key] = true
	case b.level == 0 && n.Keyword == "virtual_server":
		if len(n.Args) == 0 {
			return false // keepalived's checker process exits: see extraction
		}
		if _, err := parseVSAddress(n.Args); err != nil {
			b.rd.problem(n.Line.Pos, err.Error()+" - skipping")
			return true
		}
	case parent != nil && parent.name == "virtual_server" && n.Keyword == "real_server":
		if len(n.Args) == 0 {
			return false
		}
		port := ""
		if len(n.Args) > 1 {
			port = n.Args[1]
		}
		if _, ok := parseSockaddr(n.Args[0], port); !ok {
			b.rd.problem(n.Line.Pos, fmt.Sprintf("Invalid real server ip address/port %s/%s - skipping", n.Args[0], port))
			return true
		}
	}
	return false
}

// values is alloc_value_block(): the entries of a block of values, one
// line each, until the closing brace.
func (b *builder) values(header []string, at Line) []*Node {
	var entries []*Node
	needBob := true
	var first []string
	hadEOB := false
	haveFirst := false
	if len(header) > 1 {
		if header[1] == "{" {
			needBob = false
			if len(header) > 2 {
				first = append([]string(nil), header[2:]...)
				if first[len(first)-1] == "}" {
					first = first[:len(first)-1]
					hadEOB = true
				}
				haveFirst = true
			}
		} else {
			b.rd.problem(at.Pos, fmt.Sprintf("Block %s has extra parameters %s ...", header[0], header[1]))
		}
	}
	for {
		var words []string
		line := at
		if haveFirst {
			words = first
			haveFirst = false
		} else {
			l, w, ok := b.next()
			if !ok {
				break
			}
			line, words = l, w
			if needBob {
				needBob = false
				if words[0] == "{" {
					if len(words) == 1 {
						continue
					}
					words = words[1:]
				} else {
					b.rd.problem(line.Pos, fmt.Sprintf("'{' missing from beginning of block %s", header[0]))
				}
			}
			if words[len(words)-1] == "}" {
				if len(words) == 1 {
					break
				}
				hadEOB = true
				words = words[:len(words)-1]
			}
		}
		if len(words) > 0 {
			entries = append(entries, b.node(Node{Keyword: words[0], Args: words[1:], Kind: Entry, Line: line}))
		}
		if hadEOB {
			break
		}
	}
	return entries
}

// A KnownKeyword is an entry of keepalived 2.2.7's keyword table.
type KnownKeyword struct {
	// Path is the keyword and the blocks it is in, outermost first
	// (virtual_server, real_server, HTTP_GET, url, path).
	Path []string
	Kind NodeKind
	// Processes read the block of a top-level keyword.
	Processes []Process
}

// Keywords lists the keyword table the reader uses, blocks before their
// keywords, in name order.
func Keywords() []KnownKeyword {
	var out []KnownKeyword
	var walk func(table map[string]*keyword, path []string, procs []Process)
	walk = func(table map[string]*keyword, path []string, procs []Process) {
		names := make([]string, 0, len(table))
		for name := range table {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			k := table[name]
			p := append(slices.Clone(path), name)
			kp := procs
			if len(path) == 0 {
				kp = k.procs
			}
			out = append(out, KnownKeyword{Path: p, Kind: k.kind, Processes: kp})
			walk(k.sub, p, kp)
		}
	}
	walk(grammar227, nil, nil)
	return out
}
