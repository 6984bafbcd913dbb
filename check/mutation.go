//go:build linux

package check

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// A mutations file lists one-line edits of a fixture, each of which must
// change the status of exactly one check, the one it names, and of no
// other check among those it runs: the proof that a check can fail, and
// fails for its own reason.
//
//	fixture:
//	  keepalived: [../nat/lb1.conf, ../nat/lb2.conf]   # relative to this file
//	  capture: ../nat/capture
//	  serve: ../nat/serve.yaml
//	checks: [acceptance, agreement]       # the groups each run runs
//	mutations:
//	  - name: advert_int differs between the two files
//	    file: ../nat/lb2.conf
//	    line: 27
//	    was: advert_int 1                # the line as the fixture has it
//	    text: "    advert_int 2"         # the whole new line
//	    flips: agreement/instance/VI_front
//	    checks: [agreement]              # instead of the file's, for this edit

// maxMutationsFile bounds a mutations file: a few dozen edits.
const maxMutationsFile = 1 << 20

// MutationSet is a read mutations file.
type MutationSet struct {
	Path string
	// Name is the fixture's name in tables: the file's, without .yaml.
	Name      string
	Fixture   Fixture
	Checks    []string
	Mutations []Mutation
}

// Fixture is what a check reads, as lvslab check's flags give it; paths
// are relative to the mutations file when read, then joined to its folder.
type Fixture struct {
	Keepalived []string `yaml:"keepalived"`
	ConfigID   []string `yaml:"config_id"`
	Capture    string   `yaml:"capture"`
	Serve      string   `yaml:"serve"`
	Remap      bool     `yaml:"remap"`
}

// Mutation is one edit: line Line of File becomes Text.
type Mutation struct {
	Name string `yaml:"name"`
	File string `yaml:"file"`
	Line int    `yaml:"line"`
	Was  string `yaml:"was"`
	Text string `yaml:"text"`
	// Flips names the check the edit must fail: a result's ID, or the
	// subject of several (health/ADDR:PORT covers each fault of it).
	Flips  string   `yaml:"flips"`
	Checks []string `yaml:"checks"`

	pos Pos // where the mutations file lists it
}

// Pos is where the mutations file lists the edit.
func (m Mutation) Pos() Pos { return m.pos }

// RunChecks are the groups a run of the edit runs.
func (m Mutation) RunChecks(s *MutationSet) []string {
	if len(m.Checks) > 0 {
		return m.Checks
	}
	return s.Checks
}

// Static says whether an edit's run needs no keepalived running: only
// acceptance and agreement, a few seconds each.
func (m Mutation) Static(s *MutationSet) bool {
	return !slices.ContainsFunc(m.RunChecks(s), func(g string) bool { return g != GroupAcceptance && g != GroupAgreement })
}

// ReadMutations reads and checks a mutations file: every file it names
// exists, every edit's line is what it says it was, every group is one.
func ReadMutations(path string) (*MutationSet, error) {
	data, err := readBounded(path, maxMutationsFile, "a mutations file lists a few dozen edits")
	if err != nil {
		return nil, fmt.Errorf("mutations file: %w", err)
	}
	var raw struct {
		Fixture   Fixture     `yaml:"fixture"`
		Checks    []string    `yaml:"checks"`
		Mutations []yaml.Node `yaml:"mutations"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("mutations file %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	s := &MutationSet{Path: path, Name: strings.TrimSuffix(filepath.Base(path), filepath.Ext(path)), Fixture: raw.Fixture, Checks: raw.Checks}
	f := &s.Fixture
	for i := range f.Keepalived {
		f.Keepalived[i] = filepath.Join(dir, f.Keepalived[i])
	}
	for _, p := range []*string{&f.Capture, &f.Serve} {
		if *p != "" {
			*p = filepath.Join(dir, *p)
		}
	}
	var errs []error
	if err := s.Inputs().Validate(); err != nil {
		errs = append(errs, fmt.Errorf("%s: fixture: %w", path, err))
	}
	if err := checkGroups(s.Checks); err != nil || len(s.Checks) == 0 {
		errs = append(errs, fmt.Errorf("%s: checks: name the groups each run runs (%s): %v", path, strings.Join(Groups, ", "), err))
	}
	for _, node := range raw.Mutations {
		var m Mutation
		mdec := yaml.NewDecoder(strings.NewReader(mustYAML(&node)))
		mdec.KnownFields(true)
		m.pos = Pos{File: path, Line: node.Line}
		if err := mdec.Decode(&m); err != nil {
			errs = append(errs, fmt.Errorf("%s: %v", m.pos, err))
			continue
		}
		m.pos = Pos{File: path, Line: node.Line}
		m.File = filepath.Join(dir, m.File)
		if err := s.checkMutation(m); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", m.pos, err))
			continue
		}
		s.Mutations = append(s.Mutations, m)
	}
	if len(raw.Mutations) == 0 {
		errs = append(errs, fmt.Errorf("%s: no mutations", path))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

func checkGroups(groups []string) error {
	for _, g := range groups {
		if !slices.Contains(Groups, g) {
			return fmt.Errorf("no group %q", g)
		}
	}
	return nil
}

func (s *MutationSet) checkMutation(m Mutation) error {
	if m.Name == "" || m.Flips == "" {
		return errors.New("give the edit a name and the check it flips (flips: GROUP/SUBJECT)")
	}
	if err := checkGroups(m.Checks); err != nil {
		return err
	}
	group, _, _ := strings.Cut(m.Flips, "/")
	if !slices.Contains(m.RunChecks(s), group) && group != GroupAcceptance {
		return fmt.Errorf("flips %s, but its runs do not run %s", m.Flips, group)
	}
	lines, err := fileLines(m.File)
	if err != nil {
		return err
	}
	switch {
	case m.Line < 1 || m.Line > len(lines):
		return fmt.Errorf("%s has %d lines, no line %d", m.File, len(lines), m.Line)
	case strings.TrimSpace(lines[m.Line-1]) != strings.TrimSpace(m.Was):
		return fmt.Errorf("%s:%d is %q, the edit expects %q: has the fixture changed?", m.File, m.Line, strings.TrimSpace(lines[m.Line-1]), m.Was)
	case strings.TrimSpace(m.Text) == strings.TrimSpace(m.Was) || strings.Contains(m.Text, "\n"):
		return errors.New("text must be one line, other than the line it replaces")
	}
	return nil
}

func fileLines(path string) ([]string, error) {
	data, err := readBounded(path, maxMutationsFile, "a fixture is a handful of small files")
	if err != nil {
		return nil, err
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n"), nil
}

// Inputs are the fixture's, as lvslab check reads them.
func (s *MutationSet) Inputs() Inputs {
	f := s.Fixture
	return Inputs{Keepalived: slices.Clone(f.Keepalived), ConfigIDs: slices.Clone(f.ConfigID), Capture: f.Capture, Serve: f.Serve, Remap: f.Remap}
}

// apply writes the fixture with the edit made into dir (a copy of the
// folder that holds all its files) and returns the inputs that read the
// copy.
func (s *MutationSet) apply(m Mutation, dir string) (Inputs, error) {
	in := s.Inputs()
	paths := append(slices.Clone(in.Keepalived), m.File)
	for _, p := range []string{in.Capture, in.Serve} {
		if p != "" {
			paths = append(paths, p)
		}
	}
	root := commonDir(paths)
	if err := os.CopyFS(dir, os.DirFS(root)); err != nil {
		return Inputs{}, fmt.Errorf("copy the fixture %s: %w", root, err)
	}
	rebase := func(p string) string {
		if p == "" {
			return p
		}
		rel, _ := filepath.Rel(root, p)
		return filepath.Join(dir, rel)
	}
	lines, err := fileLines(m.File)
	if err != nil {
		return Inputs{}, err
	}
	lines[m.Line-1] = m.Text
	if err := os.WriteFile(rebase(m.File), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		return Inputs{}, err
	}
	for i := range in.Keepalived {
		in.Keepalived[i] = rebase(in.Keepalived[i])
	}
	in.Capture, in.Serve = rebase(in.Capture), rebase(in.Serve)
	return in, nil
}

// commonDir is the deepest folder that holds every path (a folder path
// holds itself).
func commonDir(paths []string) string {
	dir := ""
	for _, p := range paths {
		d := filepath.Clean(p)
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			d = filepath.Dir(d)
		}
		for dir != "" && d != dir && !strings.HasPrefix(d, dir+string(filepath.Separator)) {
			dir = filepath.Dir(dir)
		}
		if dir == "" {
			dir = d
		}
	}
	return dir
}

// Flip is a check whose status an edit changed ("" for absent).
type Flip struct {
	ID            string
	Before, After Status
}

func (f Flip) String() string {
	return fmt.Sprintf("%s (%s → %s)", f.ID, orAbsent(f.Before), orAbsent(f.After))
}

func orAbsent(s Status) string {
	if s == "" {
		return "absent"
	}
	return string(s)
}

// Flipped lists the checks whose status differs between two runs, by ID
// (as the report shows them: the operator's addresses).
func Flipped(before, after *Report) []Flip {
	statuses := func(r *Report) map[string]Status {
		out := map[string]Status{}
		for _, res := range r.shown().Results {
			out[res.ID] = res.Status
		}
		return out
	}
	b, a := statuses(before), statuses(after)
	var out []Flip
	for _, id := range sortedKeys(mergeKeys(b, a)) {
		if b[id] != a[id] {
			out = append(out, Flip{ID: id, Before: b[id], After: a[id]})
		}
	}
	return out
}

func mergeKeys(maps ...map[string]Status) map[string]bool {
	out := map[string]bool{}
	for _, m := range maps {
		for k := range m {
			out[k] = true
		}
	}
	return out
}

// MutationResult is one edit and what it flipped.
type MutationResult struct {
	Set      *MutationSet
	Mutation Mutation
	Flips    []Flip
	// Missing says neither run has any check of the flipped group: the
	// group is not on this build.
	Missing bool
	Err     error
}

// Outcome is the edit's verdict.
func (r MutationResult) Outcome() Status {
	switch {
	case r.Err != nil:
		return Inconclusive
	case r.Missing:
		return NotChecked
	case len(r.Flips) == 0:
		return Fail
	}
	failed := false
	for _, f := range r.Flips {
		if f.ID != r.Mutation.Flips && !strings.HasPrefix(f.ID, r.Mutation.Flips+"/") {
			return Fail // a check it did not name
		}
		failed = failed || f.After == Fail
	}
	if !failed {
		return Fail // changed, yet nothing caught the break
	}
	return Pass
}

// judge fills in what a pair of runs says of an edit.
func (r *MutationResult) judge(before, after *Report) {
	r.Flips = Flipped(before, after)
	group, _, _ := strings.Cut(r.Mutation.Flips, "/")
	has := func(rep *Report) bool {
		return slices.ContainsFunc(rep.Results, func(res Result) bool { return res.Group == group })
	}
	r.Missing = len(r.Flips) == 0 && !has(before) && !has(after)
}

// WriteMutationTable writes the results as a Markdown table: each edit,
// the groups its runs ran, the check it must flip and what it flipped.
func WriteMutationTable(w io.Writer, results []MutationResult) error {
	ew := &errWriter{w: w}
	ew.printf("| fixture | edit | checks run | must flip | flipped | |\n|---|---|---|---|---|---|\n")
	for _, r := range results {
		m := r.Mutation
		var flipped []string
		for _, f := range r.Flips {
			flipped = append(flipped, f.String())
		}
		got := strings.Join(flipped, "; ")
		verdict := "ok"
		switch r.Outcome() {
		case Inconclusive:
			got, verdict = "error: "+r.Err.Error(), "**not run**"
		case NotChecked:
			got, verdict = "no "+strings.SplitN(m.Flips, "/", 2)[0]+" check on this build", "not on this build"
		case Fail:
			verdict = "**WRONG**"
		}
		if got == "" {
			got = "nothing"
		}
		ew.printf("| %s | %s:%d `%s`: %s | %s | %s | %s | %s |\n", r.Set.Name, filepath.Base(m.File), m.Line, cell(strings.TrimSpace(m.Text)),
			cell(m.Name), strings.Join(m.RunChecks(r.Set), ", "), cell(m.Flips), cell(got), verdict)
	}
	return ew.err
}

// cell makes text safe inside a Markdown table cell.
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "`", "'").Replace(s)
}
