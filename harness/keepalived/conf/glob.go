package conf

import (
	"io/fs"
	"path"
	"slices"
	"strings"
)

// keepalived expands an include pattern with glibc's glob(3)
// (GLOB_BRACE | GLOB_MARK, lib/parser.c open_and_check_glob): braces are
// expanded first and each alternative globbed in turn, its matches
// sorted bytewise (keepalived never sets a locale); a wildcard does not
// match a leading dot (fnmatch's FNM_PERIOD); a backslash escapes. Go's
// fs.Glob differs on braces, leading dots and "[!…]", and doublestar on
// "**" and the order of alternatives, hence this hand-written copy of the
// semantics (not of glibc's code).

// A tree is a directory tree the reader reads files from.
type tree struct {
	fsys fs.FS
	// prefix is what a path of fsys shows with: "" for the directory the
	// reader was given, "/" for Options.Root.
	prefix string
	// abs is the absolute directory fsys stands for, when known (for
	// ${_PWD}).
	abs string
}

// display names an fs path of t as positions show it.
func (t *tree) display(p string) string {
	if t.prefix == "/" {
		if p == "." {
			return "/"
		}
		return "/" + p
	}
	return p
}

// globMatch is one path glob(3) returned.
type globMatch struct {
	path string // fs path in the tree
	dir  bool   // GLOB_MARK would append a "/"
}

// globResult is glob(3)'s answer and what keepalived's own callbacks
// counted while it ran (lib/parser.c gl_opendir, gl_lstat).
type globResult struct {
	matches      []globMatch
	missingFiles int
	missingDirs  int
	wildcards    bool // a directory was read to match a wildcard
	outside      bool // a ".." left the tree
	tooMany      bool // braces expand to more than MaxBraceAlternatives
}

// glob expands pattern relative to the directory cwd (an fs path) of t.
func (t *tree) glob(cwd, pattern string) globResult {
	var r globResult
	alts := expandBraces(pattern, &r)
	for _, alt := range alts {
		before := len(r.matches)
		t.globOne(cwd, alt, &r)
		added := r.matches[before:]
		slices.SortFunc(added, func(a, b globMatch) int { return strings.Compare(a.path, b.path) })
	}
	return r
}

// expandBraces lists the patterns a pattern's braces stand for, in order
// (glibc's glob() with GLOB_BRACE calls itself once per alternative). A
// brace without its closing brace is an ordinary character.
func expandBraces(pattern string, r *globResult) []string {
	out := []string{}
	var expand func(p string)
	expand = func(p string) {
		if r.tooMany {
			return
		}
		open := -1
		for i := 0; i < len(p); i++ {
			if p[i] == '\\' && i+1 < len(p) {
				i++
				continue
			}
			if p[i] == '{' {
				open = i
				break
			}
		}
		if open < 0 {
			out = append(out, p)
			if len(out) > MaxBraceAlternatives {
				r.tooMany = true
			}
			return
		}
		// Find the alternatives at depth 0 and the closing brace.
		var alts []string
		depth, start, end := 0, open+1, -1
		for i := open + 1; i < len(p) && end < 0; i++ {
			switch p[i] {
			case '\\':
				if i+1 < len(p) {
					i++
				}
			case '{':
				depth++
			case '}':
				if depth == 0 {
					alts = append(alts, p[start:i])
					end = i
				} else {
					depth--
				}
			case ',':
				if depth == 0 {
					alts = append(alts, p[start:i])
					start = i + 1
				}
			}
		}
		if end < 0 {
			// No closing brace: glibc globs the whole pattern without
			// GLOB_BRACE.
			out = append(out, p)
			return
		}
		for _, a := range alts {
			expand(p[:open] + a + p[end+1:])
		}
	}
	expand(pattern)
	return out
}

// globOne globs a pattern without braces.
func (t *tree) globOne(cwd, pattern string, r *globResult) {
	dirs := []string{cwd}
	parts := strings.Split(pattern, "/")
	// A trailing slash matches directories only.
	wantDir := false
	for len(parts) > 1 && parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
		wantDir = true
	}
	for i, part := range parts {
		last := i == len(parts)-1
		if part == "" && !last {
			continue
		}
		var next []string
		switch {
		case hasMeta(part):
			for _, d := range dirs {
				entries, err := fs.ReadDir(t.fsys, d)
				r.wildcards = true
				if err != nil {
					r.missingDirs++
					continue
				}
				for _, e := range entries {
					if !fnmatch(part, e.Name()) {
						continue
					}
					p := path.Join(d, e.Name())
					isDir := t.isDir(p)
					if !last && !isDir {
						continue
					}
					if last {
						if wantDir && !isDir {
							continue
						}
						r.matches = append(r.matches, globMatch{path: p, dir: isDir})
						continue
					}
					next = append(next, p)
				}
			}
		default:
			name := unescapeGlob(part)
			for _, d := range dirs {
				p, ok := joinLiteral(d, name)
				if !ok {
					r.outside = true
					continue
				}
				if !last {
					next = append(next, p)
					continue
				}
				if _, err := fs.Stat(t.fsys, p); err != nil {
					r.missingFiles++
					continue
				}
				isDir := t.isDir(p)
				if wantDir && !isDir {
					r.missingFiles++
					continue
				}
				r.matches = append(r.matches, globMatch{path: p, dir: isDir})
			}
		}
		dirs = next
	}
}

func (t *tree) isDir(p string) bool {
	st, err := fs.Stat(t.fsys, p)
	return err == nil && st.IsDir()
}

// joinLiteral joins a literal path component to a directory of the tree;
// false when ".." would leave the tree.
func joinLiteral(dir, name string) (string, bool) {
	switch name {
	case ".", "":
		return dir, true
	case "..":
		if dir == "." {
			return "", false
		}
		return path.Dir(dir), true
	}
	if strings.ContainsRune(name, 0) {
		return "", false
	}
	return path.Join(dir, name), true
}

// hasMeta reports whether a pattern component has an unescaped wildcard.
func hasMeta(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '*', '?':
			return true
		case '[':
			if strings.IndexByte(s[i+1:], ']') >= 0 {
				return true
			}
		}
	}
	return false
}

func unescapeGlob(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// fnmatch matches one path component against a pattern the way glibc's
// fnmatch(3) does with FNM_PERIOD: "*", "?", bracket expressions with "!"
// or "^", ranges and [:class:], backslash escapes.
func fnmatch(pattern, name string) bool {
	if strings.HasPrefix(name, ".") && !strings.HasPrefix(unescapeLead(pattern), ".") {
		return false
	}
	p, n := 0, 0
	starP, starN := -1, -1
	for n < len(name) {
		if p < len(pattern) {
			switch c := pattern[p]; c {
			case '*':
				starP, starN = p, n
				p++
				continue
			case '?':
				p++
				n++
				continue
			case '[':
				if ok, width, valid := matchBracket(pattern[p:], name[n]); valid {
					if ok {
						p += width
						n++
						continue
					}
				} else if name[n] == '[' {
					p++
					n++
					continue
				}
			case '\\':
				if p+1 < len(pattern) && pattern[p+1] == name[n] {
					p += 2
					n++
					continue
				}
				if p+1 == len(pattern) && name[n] == '\\' {
					p++
					n++
					continue
				}
			default:
				if c == name[n] {
					p++
					n++
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		starN++
		p, n = starP+1, starN
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

func unescapeLead(p string) string {
	if strings.HasPrefix(p, `\`) {
		return p[1:]
	}
	return p
}

// matchBracket matches c against the bracket expression at the start of
// p. valid is false when the expression has no closing bracket (then "["
// is an ordinary character).
func matchBracket(p string, c byte) (ok bool, width int, valid bool) {
	i := 1
	negate := false
	if i < len(p) && (p[i] == '!' || p[i] == '^') {
		negate = true
		i++
	}
	matched := false
	first := true
	for {
		if i >= len(p) {
			return false, 0, false
		}
		ch := p[i]
		if ch == ']' && !first {
			i++
			break
		}
		first = false
		if ch == '[' && i+1 < len(p) && p[i+1] == ':' {
			end := strings.Index(p[i+2:], ":]")
			if end >= 0 {
				if classMatch(p[i+2:i+2+end], c) {
					matched = true
				}
				i += 2 + end + 2
				continue
			}
		}
		if ch == '\\' && i+1 < len(p) {
			i++
			ch = p[i]
		}
		lo := ch
		i++
		if i+1 < len(p) && p[i] == '-' && p[i+1] != ']' {
			hi := p[i+1]
			i += 2
			if hi == '\\' && i < len(p) {
				hi = p[i]
				i++
			}
			if lo <= c && c <= hi {
				matched = true
			}
			continue
		}
		if c == lo {
			matched = true
		}
	}
	return matched != negate, i, true
}

func classMatch(class string, c byte) bool {
	isUpper := 'A' <= c && c <= 'Z'
	isLower := 'a' <= c && c <= 'z'
	isDigit := '0' <= c && c <= '9'
	switch class {
	case "alpha":
		return isUpper || isLower
	case "digit":
		return isDigit
	case "alnum":
		return isUpper || isLower || isDigit
	case "upper":
		return isUpper
	case "lower":
		return isLower
	case "space":
		return c == ' ' || ('\t' <= c && c <= '\r')
	case "blank":
		return c == ' ' || c == '\t'
	case "punct":
		return c > ' ' && c < 0x7f && !(isUpper || isLower || isDigit)
	case "xdigit":
		return isDigit || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
	case "print":
		return c >= ' ' && c < 0x7f
	case "graph":
		return c > ' ' && c < 0x7f
	case "cntrl":
		return c < ' ' || c == 0x7f
	}
	return false
}
