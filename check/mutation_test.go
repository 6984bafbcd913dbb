//go:build linux

package check

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const fixturesDir = "../fixtures/keepalived"

// Every shipped mutations file reads: its fixture's lines are what its
// edits say they were, so an edited fixture is caught here, not by a
// table that silently flips something else.
func TestShippedMutations(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(fixturesDir, "mutations", "*.yaml"))
	if len(files) < 6 {
		t.Fatalf("%d mutations files, want one per fixture (6)", len(files))
	}
	for _, f := range files {
		s, err := ReadMutations(f)
		if err != nil {
			t.Error(err)
			continue
		}
		if len(s.Mutations) < 5 {
			t.Errorf("%s: %d edits, want at least five", f, len(s.Mutations))
		}
		static := 0
		for _, m := range s.Mutations {
			if m.Static(s) {
				static++
			}
		}
		if static == 0 {
			t.Errorf("%s: no edit the suite's byo specs can run (checks acceptance, agreement only)", f)
		}
	}
}

func writeFixture(t *testing.T) string {
	t.Helper()
	return writeFiles(t, map[string]string{
		"pair/lb1.conf":   "vrrp_instance VI_1 {\n    advert_int 1\n}\n",
		"pair/lb2.conf":   "vrrp_instance VI_1 {\n    advert_int 1\n}\n",
		"pair/serve.yaml": "- server: \"*\"\n",
		"m/pair.yaml": `fixture:
  keepalived: [../pair/lb1.conf, ../pair/lb2.conf]
  serve: ../pair/serve.yaml
checks: [acceptance, agreement]
mutations:
  - name: advert_int differs
    file: ../pair/lb2.conf
    line: 2
    was: advert_int 1
    text: "    advert_int 2"
    flips: agreement/instance/VI_1
`,
	})
}

func TestMutationApply(t *testing.T) {
	dir := writeFixture(t)
	s, err := ReadMutations(filepath.Join(dir, "m/pair.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	m := s.Mutations[0]
	if !m.Static(s) || m.Pos().Line != 6 {
		t.Errorf("static %v, listed at %v", m.Static(s), m.Pos())
	}
	out := t.TempDir()
	in, err := s.apply(m, out)
	if err != nil {
		t.Fatal(err)
	}
	if in.Keepalived[0] != filepath.Join(out, "lb1.conf") || in.Serve != filepath.Join(out, "serve.yaml") {
		t.Errorf("inputs %+v: want every file of the fixture read from the copy", in)
	}
	edited, _ := os.ReadFile(in.Keepalived[1])
	if string(edited) != "vrrp_instance VI_1 {\n    advert_int 2\n}\n" {
		t.Errorf("edited copy:\n%s", edited)
	}
	orig, _ := os.ReadFile(s.Fixture.Keepalived[1])
	if strings.Contains(string(orig), "advert_int 2") {
		t.Error("the fixture itself was edited")
	}
}

func TestReadMutationsRefuses(t *testing.T) {
	for _, tc := range []struct{ change, want string }{
		{"line: 2\n", "line: 9\n"},
		{"was: advert_int 1\n", "was: advert_int 3\n"},
		{"flips: agreement/instance/VI_1\n", "flips: election/VI_1\n"},
		{"checks: [acceptance, agreement]\n", "checks: [acceptance, agrement]\n"},
		{`text: "    advert_int 2"`, `text: "    advert_int 1"`},
		{"    flips:", "    colour: blue\n    flips:"},
	} {
		dir := writeFixture(t)
		path := filepath.Join(dir, "m/pair.yaml")
		data, _ := os.ReadFile(path)
		if err := os.WriteFile(path, []byte(strings.Replace(string(data), tc.change, tc.want, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadMutations(path); err == nil {
			t.Errorf("%q accepted", tc.want)
		}
	}
}

func TestFlippedAndTable(t *testing.T) {
	before := &Report{Results: []Result{{ID: "acceptance/lb1", Group: GroupAcceptance, Status: Pass},
		{ID: "agreement/instance/VI_1", Group: GroupAgreement, Status: Pass}}}
	after := &Report{Results: []Result{{ID: "acceptance/lb1", Group: GroupAcceptance, Status: Pass},
		{ID: "agreement/instance/VI_1", Group: GroupAgreement, Status: Fail}, {ID: "agreement/services", Group: GroupAgreement, Status: Pass}}}
	f := Flipped(before, after)
	if len(f) != 2 || f[0].String() != "agreement/instance/VI_1 (pass → fail)" || f[1].String() != "agreement/services (absent → pass)" {
		t.Errorf("flipped %v", f)
	}
	s := &MutationSet{Name: "pair", Checks: []string{GroupAcceptance, GroupAgreement}}
	ok := MutationResult{Set: s, Mutation: Mutation{Name: "a | b", File: "x/lb2.conf", Line: 2, Text: "  advert_int 2", Flips: "agreement/instance/VI_1"}}
	ok.judge(before, &Report{Results: []Result{before.Results[0], {ID: "agreement/instance/VI_1", Group: GroupAgreement, Status: Fail}}})
	wrong := ok
	wrong.judge(before, after)
	missing := MutationResult{Set: s, Mutation: Mutation{Flips: "health/x", Checks: []string{GroupHealth}}}
	missing.judge(before, before)
	if ok.Outcome() != Pass || wrong.Outcome() != Fail || missing.Outcome() != NotChecked {
		t.Errorf("outcomes %s %s %s, want pass, fail, not checked", ok.Outcome(), wrong.Outcome(), missing.Outcome())
	}
	var buf bytes.Buffer
	if err := WriteMutationTable(&buf, []MutationResult{ok, wrong, missing}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| pair | lb2.conf:2 `advert_int 2`: a \\| b | acceptance, agreement | agreement/instance/VI_1 | agreement/instance/VI_1 (pass → fail) | ok |",
		"**WRONG**", "not on this build"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, buf.String())
		}
	}
}

func TestSampleTable(t *testing.T) {
	runs := []SampleRun{
		{Path: "/s/keepalived.conf.vrrp", Report: &Report{Results: []Result{
			{ID: "acceptance/x", Group: GroupAcceptance, Status: Fail},
			{ID: "reach", Group: GroupReach, Status: NotChecked, Reason: "the file has no virtual_server with a real server"}}}},
		{Path: "/s/keepalived.conf.fwmark", Report: &Report{Results: []Result{
			{ID: "acceptance/x", Group: GroupAcceptance, Status: Pass},
			{ID: "reach/a", Group: GroupReach, Status: Assumed}, {ID: "reach/b", Group: GroupReach, Status: NotChecked, Reason: "UDP"}}}},
		{Path: "/s/keepalived.conf.bad", Err: os.ErrNotExist},
	}
	var buf bytes.Buffer
	if err := WriteSampleTable(&buf, runs); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| sample | acceptance | reach |",
		"| vrrp | checked: 1 fail | not checked: the file has no virtual_server with a real server |",
		"| fwmark | checked: 1 pass | checked: 1 assumed, 1 not checked (UDP) |",
		"| bad | not checked: file does not exist |", "not on this build"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, buf.String())
		}
	}
	if u := (SampleRun{Report: &Report{Results: []Result{{ID: "x", Status: NotChecked}}}}).Unexplained(); len(u) != 1 {
		t.Errorf("a not checked without a reason: %v", u)
	}
}

func TestOutcomeBySubject(t *testing.T) {
	m := Mutation{Flips: "health/198.51.100.11:8080"}
	for _, c := range []struct {
		name  string
		flips []Flip
		want  Status
	}{
		{"each fault of the subject fails", []Flip{{ID: "health/198.51.100.11:8080/refused", Before: Pass, After: Fail},
			{ID: "health/198.51.100.11:8080/blackholed", Before: Pass, After: Fail}}, Pass},
		{"a check of another subject moves too", []Flip{{ID: "health/198.51.100.11:8080/refused", Before: Pass, After: Fail},
			{ID: "health/198.51.100.110:8080/refused", Before: Pass, After: Fail}}, Fail},
		{"changed, but nothing fails", []Flip{{ID: "health/198.51.100.11:8080/refused", Before: Pass, After: NotChecked}}, Fail},
		{"nothing changed", nil, Fail},
	} {
		if got := (MutationResult{Mutation: m, Flips: c.flips}).Outcome(); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}
