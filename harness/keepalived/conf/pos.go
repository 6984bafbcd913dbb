package conf

import "fmt"

// Pos is a physical line of a configuration file: the file's name as the
// reader found it (relative to the directory it was given, or absolute
// under Options.Root) and the line's number, from 1.
type Pos struct {
	File string `json:"file"`
	Line int    `json:"line"`
}

func (p Pos) String() string {
	if p.File == "" {
		return "-"
	}
	return fmt.Sprintf("%s:%d", p.File, p.Line)
}

// IsZero reports whether p names no line (a value nothing in the files set).
func (p Pos) IsZero() bool { return p.File == "" && p.Line == 0 }

// A Problem is something wrong the reader can see in the files without
// running keepalived: a brace too many, a number keepalived refuses, an
// include that matches nothing. Keepalived's own verdict on the same line
// may be harsher or milder; the message says what keepalived 2.2.7 does.
type Problem struct {
	Pos     Pos    `json:"pos"`
	Message string `json:"message"`
}

func (p Problem) String() string { return p.Pos.String() + ": " + p.Message }

// A Line is one logical line: what keepalived's read_line() hands its
// parser once every preprocessing step is done.
type Line struct {
	// Text is the line after preprocessing: no comment, definitions
	// substituted, an @ID prefix removed, split at its first brace.
	Text string `json:"text"`
	// Pos is the physical line it came from.
	Pos Pos `json:"pos"`
	// Expanded says the text went through a $NAME substitution, a ~SEQ or
	// ~LST, or a multi-line definition: the physical line does not read
	// like this.
	Expanded bool `json:"expanded,omitempty"`
	// Shared says the physical line gave other logical lines too (a brace
	// on the same line, a ~SEQ, a multi-line definition): replacing the
	// physical line replaces them all.
	Shared bool `json:"shared,omitempty"`
}

// Setting is a value of the file: Set says the file gave it (at Pos);
// otherwise Value is the zero value, or keepalived's default once
// Defaults has filled it in, and Pos is zero.
type Setting[T any] struct {
	Value T    `json:"value"`
	Pos   Pos  `json:"pos,omitzero"`
	Set   bool `json:"set"`
	// Default names where an unset value came from ("default of
	// keepalived 2.2.7", "inherited from the virtual server"), once
	// Defaults has filled it in.
	Default string `json:"default,omitempty"`
}

func set[T any](v T, p Pos) Setting[T] { return Setting[T]{Value: v, Pos: p, Set: true} }
