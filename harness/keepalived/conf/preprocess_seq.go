package conf

import (
	"bytes"
	"fmt"
	"strconv"
)

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
