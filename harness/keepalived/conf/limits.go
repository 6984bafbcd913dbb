package conf

import "fmt"

// Limits of the reader. keepalived 2.2.7 has none of these: it follows a
// self-including file until it runs out of file descriptors and loops
// forever on two definitions that name each other. The reader refuses an
// input past a limit with a *LimitError instead.
const (
	// MaxExpandedBytes bounds the bytes of the files read, and of the
	// logical lines each pass of keepalived's reading produces: some two
	// thousand real servers with a checker each, read in about 50 ms of
	// CPU (BenchmarkExpanded, 2-core host).
	MaxExpandedBytes = 256 << 10
	// MaxIncludeDepth bounds nested includes: real configurations nest
	// two or three deep; deeper is a file that includes itself.
	MaxIncludeDepth = 32
	// MaxFiles bounds the files one read opens (every glob match counts).
	MaxFiles = 1000
	// MaxBraceAlternatives bounds the patterns one include's braces may
	// expand to: more than the files a read may open is never useful.
	MaxBraceAlternatives = MaxFiles
	// MaxExpansionDepth bounds the $NAME substitutions on one line:
	// keepalived's line limit (1024 bytes) ends any growing expansion in
	// fewer steps, so more means definitions that name each other in a
	// cycle, on which keepalived itself never returns.
	MaxExpansionDepth = 1024
	// MaxSubstitutions bounds the $NAME substitutions of a whole read
	// (50 per real server of a ten-thousand-server file, with room).
	MaxSubstitutions = 1 << 19
	// MaxSeqElements bounds the values one ~SEQ or ~LST may take: every
	// port of a service, or every address of a /16.
	MaxSeqElements = 1 << 16
)

// A LimitError says which limit an input exceeded, and where.
type LimitError struct {
	Limit string // the constant's name, e.g. "MaxIncludeDepth"
	Value int
	Pos   Pos
	What  string
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("%s: %s: over the reader's limit %s = %d; keepalived 2.2.7 has no such limit, but a configuration this large or this recursive is almost certainly a mistake", e.Pos, e.What, e.Limit, e.Value)
}
