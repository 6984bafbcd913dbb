//go:build linux

package check

import (
	"errors"
	"flag"
	"strings"
	"time"

	"github.com/lvslab/lvslab/topology"
)

// Flags are lvslab check's flags: Register declares them, Finish checks
// and completes what they gave.
type Flags struct {
	Inputs    Inputs
	Batch     Batch
	Placement Placement
	// Name is the lab's; JUnit a file to write the JUnit report to as well.
	Name, JUnit string
	// JSON prints the report as JSON; CaptureScript prints the capture
	// script instead of checking.
	JSON, CaptureScript bool
	// Only are the groups --checks names (every group when empty), once
	// Finish has read them.
	Only []string

	ids, groups string
}

// fileList is a flag given once or more.
type fileList []string

func (s *fileList) String() string     { return strings.Join(*s, ",") }
func (s *fileList) Set(v string) error { *s = append(*s, v); return nil }

// Register declares the flags on fs.
func (f *Flags) Register(fs *flag.FlagSet) {
	in := &f.Inputs
	fs.Var((*fileList)(&in.Keepalived), "keepalived", "keepalived.conf `file` of a director (once per director)")
	fs.StringVar(&f.ids, "config-id", "", "`ids` (lb1,lb2) of the directors one keepalived file describes with @ID lines")
	fs.StringVar(&in.Root, "root", "", "`folder` that absolute include paths are read under (your /etc/keepalived is DIR/etc/keepalived)")
	fs.StringVar(&in.Rules, "ipvs-rules", "", "ipvsadm -S -n `file`: IPVS rules without keepalived")
	fs.StringVar(&in.Capture, "capture", "", "`folder` of the capture script's output, one folder per director (see --capture-script)")
	fs.StringVar(&in.Serve, "serve", "", "YAML `file` of what your application answers on each real server")
	fs.BoolVar(&in.Remap, "remap", false, "move every subnet of the input onto documentation prefixes (findings keep your addresses)")
	fs.StringVar(&in.Binary, "keepalived-binary", "", "run this keepalived `binary` instead of the one installed")
	fs.BoolVar(&in.RunNotify, "run-notify", false, "run your notify scripts in the lab instead of recording their calls")
	fs.StringVar(&f.groups, "checks", "", "run only these `groups` ("+strings.Join(Groups, ",")+")")
	fs.BoolVar(&f.JSON, "json", false, "print the report as JSON")
	fs.StringVar(&f.JUnit, "junit", "", "also write the report as JUnit XML to `file` (lvslab summary reads it)")
	f.Placement.Register(fs, "results/check", time.Hour, "give up after this long")
	fs.StringVar(&f.Name, "name", "check", "lab `name`")
	fs.BoolVar(&f.CaptureScript, "capture-script", false, "print the script to run on each of your directors for --capture, and exit")
	fs.Var((*fileList)(&f.Batch.Mutations), "mutations", "run a mutations `file`'s fixture and each of its one-line edits, and print what each flipped")
	fs.StringVar(&f.Batch.Samples, "samples", "", "check every keepalived.conf.* of `folder` alone with --remap (e.g. "+DebianSamples+")")
}

// Finish reads --config-id and --checks and checks the lab's name; its
// errors are mistakes on the command line.
func (f *Flags) Finish() error {
	if f.ids != "" {
		f.Inputs.ConfigIDs = strings.Split(f.ids, ",")
	}
	var err error
	f.Only, err = ParseGroups(f.groups)
	return errors.Join(err, topology.CheckLabName(f.Name))
}
