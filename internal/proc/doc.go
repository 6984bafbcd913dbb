// Package proc is the tree's one reader of what the running kernel tells
// about processes (/proc/<pid>) and about itself (its release): a
// process's identity (start time, command name, owner), its environment,
// the members of a process group, a thread's CPU time. Every package may
// import it; it imports no package of lvslab.
//
// The files are parsed by github.com/prometheus/procfs, a maintained
// parser that reads a command name holding spaces or parentheses right,
// rather than by parsers written here (there were three, each a little
// different).
//
// It only reads: it never signals, changes or waits for a process.
package proc
