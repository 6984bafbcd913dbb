package conf

import (
	"bytes"
	"fmt"
	"strings"
)

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
	used := len(line)
	found := false
	mlPtr := *multiline
	var nextPtr *cursor
	cur := 0
	steps := 0
	for {
		i := bytes.IndexByte(buf[cur:cstrlen(buf)], '$')
		if i < 0 {
			break
		}
		cur += i
		if buf[cur+1] == 0 {
			break
		}
		d, paramsEnd := p.findUse(buf[cur+1 : cstrlen(buf)])
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
			out := append([]byte(nil), buf[:cstrlen(buf)]...)
			return out, false
		}
		if total != replacing {
			shiftTail(buf, cur, total, replacing, d.hasParams, paramsEnd, extra)
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
	return append([]byte(nil), buf[:cstrlen(buf)]...), found
}

// shiftTail moves the rest of the C string in buf after a substitution at
// cur of total bytes by replacing bytes, the way replace_param moves it
// (shortening stops at the end of the parameters of a use that has them).
func shiftTail(buf []byte, cur, total, replacing int, hasParams bool, paramsEnd, extra int) {
	if total < replacing {
		// lengthening: move the tail right, NUL included
		end := cstrlen(buf)
		grow := replacing - total
		copy(buf[cur+replacing:end+grow+1], buf[cur+total:end+1])
	} else {
		// shortening: move left from s to d until s reaches e
		s := cur + total - replacing
		dst := cur
		e := cstrlen(buf)
		if hasParams {
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
}

// cstrlen is the length of the NUL-terminated string in buf.
func cstrlen(buf []byte) int { return bytes.IndexByte(buf, 0) }

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
