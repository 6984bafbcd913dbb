//go:build linux

package check

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/lvslab/lvslab/harness/ipvsadm"
	"github.com/lvslab/lvslab/harness/keepalived/conf"
)

// Inputs are what the operator brings, as the command line names them.
type Inputs struct {
	// Keepalived are one file per director (one or two), or one file for
	// both directors with ConfigIDs naming them.
	Keepalived []string
	ConfigIDs  []string
	// Root is where absolute include paths are read from (the operator's
	// /etc lives under Root/etc).
	Root string
	// Rules is an ipvsadm -S -n file: IPVS rules without keepalived.
	Rules string
	// Capture is the folder of the capture script's output, one folder
	// per director; Serve what the application answers.
	Capture string
	Serve   string
	// Remap moves every subnet of the input onto documentation prefixes.
	Remap bool
	// Binary is the keepalived to run ("" for the one on PATH).
	Binary string
	// RunNotify runs the operator's notify scripts instead of recording
	// their calls.
	RunNotify bool
}

// Validate names what is wrong with the inputs before anything is read.
func (in Inputs) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	switch {
	case len(in.Keepalived) == 0 && in.Rules == "":
		bad("nothing to check: give --keepalived FILE (once per director) or --ipvs-rules FILE")
	case len(in.Keepalived) > 0 && in.Rules != "":
		bad("--keepalived and --ipvs-rules are two ways to give the rules: give one")
	case in.Rules != "" && in.Capture != "":
		bad("--capture describes keepalived directors; with --ipvs-rules the lab plans its one director (leave --capture out)")
	case len(in.Keepalived) > 2:
		bad("%d keepalived files: give one per director, at most two (a pair)", len(in.Keepalived))
	}
	switch {
	case len(in.ConfigIDs) > 0 && len(in.Keepalived) == 0:
		bad("--config-id names directors of a keepalived file: give --keepalived too")
	case len(in.ConfigIDs) > 2:
		bad("--config-id %s: at most two directors", strings.Join(in.ConfigIDs, ","))
	case len(in.ConfigIDs) == 2 && len(in.Keepalived) == 2:
		bad("--config-id lb1,lb2 runs one file on both directors: give one --keepalived file with it, or one id per file")
	}
	for _, id := range in.ConfigIDs {
		if id == "" || strings.ContainsAny(id, " \t\n@") {
			bad("config id %q: keepalived compares it with the word after '@': give a word without blanks", id)
		}
	}
	for _, f := range append(append([]string{}, in.Keepalived...), in.Rules, in.Serve) {
		if f != "" {
			if st, err := os.Stat(f); err != nil || !st.Mode().IsRegular() {
				bad("%s is not a readable file", f)
			}
		}
	}
	for _, d := range []string{in.Root, in.Capture} {
		if d != "" {
			if st, err := os.Stat(d); err != nil || !st.IsDir() {
				bad("%s is not a folder", d)
			}
		}
	}
	if in.Binary != "" {
		if st, err := os.Stat(in.Binary); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			bad("--keepalived-binary %s is not an executable file", in.Binary)
		}
	}
	return errors.Join(errs...)
}

// Director is one of the operator's directors: its file as keepalived
// reads it with its config id, and its capture if given.
type Director struct {
	// Name is the operator's: the config id, or the file's name without
	// .conf. Node is its namespace's node in the lab.
	Name string
	Node string
	Path string
	// ConfigID is what keepalived runs with (-i): the config id given,
	// else Name, so that keepalived never uses the host's name.
	ConfigID string
	Conf     *conf.File
	Machine  *Machine

	// addrs are the addresses the design gave its interfaces.
	addrs []linkAddr
	// root is --root; remap the mapping its files are read through.
	root  string
	remap *Remap
}

// Bundle is what the operator brought, read and checked.
type Bundle struct {
	Inputs    Inputs
	Directors []*Director
	Rules     *ipvsadm.Table
	Serve     *Serve
	// Remap is the mapping of every subnet of the inputs (--remap): every
	// part of the bundle is in the lab's addresses, the report shows the
	// operator's. Nil without --remap.
	Remap *Remap
}

// Load reads every input and names what is wrong in them.
func Load(in Inputs) (*Bundle, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	b := &Bundle{Inputs: in}
	var err error
	if in.Rules != "" {
		if b.Rules, err = ipvsadm.ParseFile(in.Rules); err != nil {
			return nil, err
		}
	}
	if len(in.Keepalived) > 0 {
		if b.Directors, err = readDirectors(in); err != nil {
			return nil, err
		}
	}
	if in.Capture != "" {
		names := []string{"director"}
		if len(b.Directors) > 0 {
			names = names[:0]
			for _, d := range b.Directors {
				names = append(names, d.Name)
			}
		}
		machines, err := ReadCapture(in.Capture, names)
		if err != nil {
			return nil, err
		}
		for _, d := range b.Directors {
			d.Machine = machines[d.Name]
		}
	}
	if in.Serve != "" {
		if b.Serve, err = ReadServe(in.Serve); err != nil {
			return nil, err
		}
	}
	if in.Remap {
		if err := b.remap(); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func readDirectors(in Inputs) ([]*Director, error) {
	var ds []*Director
	switch {
	case len(in.Keepalived) == 1 && len(in.ConfigIDs) == 2:
		for _, id := range in.ConfigIDs {
			ds = append(ds, &Director{Name: id, Path: in.Keepalived[0], ConfigID: id})
		}
	default:
		for i, path := range in.Keepalived {
			name := strings.TrimSuffix(filepath.Base(path), ".conf")
			d := &Director{Name: name, Path: path, ConfigID: name}
			if i < len(in.ConfigIDs) {
				d.Name, d.ConfigID = in.ConfigIDs[i], in.ConfigIDs[i]
			}
			ds = append(ds, d)
		}
	}
	if len(ds) == 2 && ds[0].Name == ds[1].Name {
		return nil, fmt.Errorf("both directors are named %s: give the files different names or --config-id", ds[0].Name)
	}
	var errs []error
	for i, d := range ds {
		d.Node = nodeName(d.Name, i)
		d.root = in.Root
		f, err := d.readConf()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s (director %s): %w", d.Path, d.Name, err))
			continue
		}
		d.Conf = f
	}
	return ds, errors.Join(errs...)
}

var nodeNameRE = regexp.MustCompile(`^[a-z][a-z0-9]{0,7}$`)

// nodeName is a director's node name: its own name when that is a short
// node name, else director1 or director2.
func nodeName(name string, i int) string {
	if nodeNameRE.MatchString(name) && name != "client" && name != "router" && !strings.HasPrefix(name, "rs") {
		return name
	}
	return fmt.Sprintf("director%d", i+1)
}
