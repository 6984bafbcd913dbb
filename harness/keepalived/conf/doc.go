// Package conf reads a keepalived configuration the way keepalived 2.2.7
// reads it, and extracts what a lab needs from it: VRRP instances and
// sync groups, virtual servers and their groups, real servers and their
// checkers, tracked scripts and processes, notify scripts, the global
// settings that shape them, each with the file and line it came from.
//
// Read and ReadFS run every layer but the last; each layer's result is
// part of the File:
//
//  1. preprocessing (File.Lines, File.ParentLines): keepalived's
//     read_line() of lib/parser.c, quirks included: comments, $NAME
//     definitions,
//     ~SEQ/~LST, @ID conditional lines, include with glob(3) patterns
//     relative to the including file, and the configuration copy through
//     which keepalived's VRRP and checker processes read the files again;
//  2. the block tree (File.Tree): keepalived's process_stream(), driven
//     by the keyword table of 2.2.7, once for each of its processes (the parent
//     reads global_defs, the VRRP process its blocks, the checker process
//     its own), so that a block keepalived closes early is closed early
//     here too;
//  3. the model (File): typed settings, each a Setting that says whether
//     the file set it and where;
//  4. defaults (Defaults): what keepalived uses for what the file left
//     unset, per keepalived version.
//
// The reader decides nothing about the configuration: what keepalived
// would reject, it records as a Problem or an Unknown keyword with its
// position and leaves the verdict to keepalived itself. Only a resource
// limit (see the Max constants) or a main file it cannot read is an error.
//
// Facts and ParseDump put the reader's File and keepalived's own dump of
// its configuration in one comparable form: the suites' byo specs hold
// the reader to keepalived with them.
//
// It is pure Go: it reads files only through the fs.FS it is given (Read
// gives it the operating system's), runs no process, needs no privilege
// and builds on every operating system.
package conf
