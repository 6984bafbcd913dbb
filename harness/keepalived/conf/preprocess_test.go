package conf

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// The expected lines of these cases are what keepalived 2.2.7 itself
// reads: each case was run through "keepalived -t -i lb1", whose
// "Unknown keyword" messages name the first word of every logical line
// (see also suites/lab's byo specs, which compare the two on every
// fixture and sample).

func mapFS(files map[string]string) fstest.MapFS {
	m := fstest.MapFS{}
	for name, data := range files {
		m[name] = &fstest.MapFile{Data: []byte(data), Mode: 0o644}
	}
	return m
}

func readFiles(t *testing.T, files map[string]string, opts Options) *File {
	t.Helper()
	f, err := ReadFS(mapFS(files), "main.conf", opts)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// lineTexts are the logical lines as "LINE TEXT" (file:LINE for other files).
func lineTexts(lines []Line) []string {
	var out []string
	for _, l := range lines {
		p := fmt.Sprint(l.Pos.Line)
		if l.Pos.File != "main.conf" {
			p = l.Pos.String()
		}
		out = append(out, p+" "+l.Text)
	}
	return out
}

var lb1 = Options{ConfigID: "lb1"}

func TestPreprocess(t *testing.T) {
	cases := []struct {
		name   string
		in     string
		opts   Options
		want   []string // the children's lines
		parent []string // the parent's, when they differ
	}{
		{name: "comments", in: "a 1 # c\nb \"q # kept\" ! c\n! whole\n   # whole\nc 'x # y' z\n",
			want: []string{"1 a 1", `2 b "q # kept"`, "5 c 'x"}},
		{name: "escaped comment characters: the parent unescapes, the children see a comment", in: "a_\\#x 1\nb_\\!y\n\"\\#\" c\n",
			want:   []string{"1 a_", "2 b_", `3 "\#" c`},
			parent: []string{"1 a_#x 1", "2 b_!y", `3 "\#" c`}},
		{name: "definitions", in: "$A=alpha\n$B=x${A}y\nc $A, $A) $A\nd_$A:80\ne_${A}:80\nf $B\n$A=beta\ng $B\n\"$A\" \"${A}\"\n",
			want: []string{"3 c alpha, alpha) alpha", "4 d_$A:80", "5 e_alpha:80", "6 f xalphay", "8 g xbetay", `9 "$A" "beta"`}},
		{name: "a definition needs no blank before =", in: "$SP = 3\n$OK=  v  \nx $OK\n",
			want: []string{"1 $SP = 3", "3 x v"}},
		{name: "undefined names stay, their braces split the line", in: "a $U\nb_${U}c\n",
			want: []string{"1 a $U", "2 b_$", "2 {", "2 U", "2 }", "2 c"}},
		{name: "a definition may hold a ~SEQ", in: "$V=~SEQ(i,2) s_$i\n$V\n",
			want: []string{"2 s_1", "2 s_2"}},
		{name: "a substituted value is decommented", in: "$H=${_HASH}\nr_${H}x 1\ns ${_BANG}\n",
			want: []string{"2 r_", "3 s"}},
		{name: "multi-line definition", in: "$M=one \\\n   two \\\n  three\nuse $M\nnot $M here\n",
			want: []string{"4 use one", "4 two", "4 three", "5 not $M here"}},
		{name: "an empty line ends a multi-line definition", in: "$M=one \\\n two \\\n\nuse $M\n",
			want: []string{"4 use one", "4 two"}},
		{name: "an empty multi-line start takes the next line as its value", in: "$E=\\\nswallowed 1\nx $E\n",
			want: []string{"3 x swallowed 1"}},
		{name: "@ID and @^ID", in: "@lb1 a 1\n@^lb1 b 1\n@lb2 c 1\n@^lb2 d 1\n@lb1\n@^lb1x e\n",
			want: []string{"1 a 1", "4 d 1", "6 e"}},
		{name: "no config id: @ID dropped, @^ID kept", in: "@lb1 a 1\n@^lb1 b 1\n", opts: Options{NoConfigID: true},
			want: []string{"2 b 1"}},
		{name: "@ID from a definition", in: "$IF=@lb1\n$IF z 1\n$NOT=@lb2\n$NOT y 1\n",
			want: []string{"2 z 1"}},
		{name: "~SEQ", in: "~SEQ(i,3) s_$i\n~SEQ(k, 10, -5, 0) t_$k\n~SEQx(h,0x9,0x1,0xb) u_$h\n~SEQ(n,-2) v_$n\n~SEQ(o, 010, 011) w_$o\n",
			want: []string{"1 s_1", "1 s_2", "1 s_3", "2 t_10", "2 t_5", "2 t_0", "3 u_9", "3 u_a", "3 u_b", "4 v_-1", "4 v_-2", "5 w_8", "5 w_9"}},
		{name: "~LST and nesting", in: "~LST(w,a,b) v_$w\n~LST({x,y},{1,2},{3}) w_${x}_${y}\n~SEQ(i,1,2) ~LST(w,a,b) n_${i}_${w}\n",
			want: []string{"1 v_a", "1 v_b", "2 w_1_2", "2 w_3_", "3 n_1_a", "3 n_1_b", "3 n_2_a", "3 n_2_b"}},
		{name: "~SEQ with a multi-line definition", in: "$RS=real_server 192.0.2.$i 80 { \\\n weight $i \\\n}\n~SEQ(i,1,2) $RS\n",
			want: []string{"4 real_server 192.0.2.1 80", "4 {", "4 weight 1", "4 }", "4 real_server 192.0.2.2 80", "4 {", "4 weight 2", "4 }"}},
		{name: "braces end a line", in: "word{ inner }\n{ a b }\nx \"{\" y {\n}}\n",
			want: []string{"1 word", "1 {", "1 inner", "1 }", "2 {", "2 a b", "2 }", `3 x "{" y`, "3 {", "4 }", "4 }"}},
		{name: "CRLF and NUL", in: "a 1\r\nb 2\x00hidden\nc 3\n",
			want: []string{"1 a 1", "2 b 2", "3 c 3"}},
		{name: "a line longer than 1023 bytes is read in pieces", in: "l_" + strings.Repeat("x", 1100) + " tail\nnext\n",
			want: []string{"1 l_" + strings.Repeat("x", 1021), "1 " + strings.Repeat("x", 79) + " tail", "2 next"}},
		{name: "${_RANDOM MIN MAX} corrupts the rest of its line", in: "x_${_RANDOM 5 9} tail\n",
			want: []string{"1 x_5 _RANDOM 5 9", "1 }", "1 tail"}},
		{name: "${_INSTANCE} and ${_PWD}", in: "i ${_INSTANCE}\np ${_PWD}\n",
			want: []string{"1 i lb1", "2 p ."}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opts := c.opts
			if opts == (Options{}) {
				opts = lb1
			}
			f := readFiles(t, map[string]string{"main.conf": c.in}, opts)
			if got := lineTexts(f.Lines); !slices.Equal(got, c.want) {
				t.Errorf("children's lines:\n got %q\nwant %q", got, c.want)
			}
			parent := c.parent
			if parent == nil {
				parent = c.want
			}
			if got := lineTexts(f.ParentLines); !slices.Equal(got, parent) {
				t.Errorf("parent's lines:\n got %q\nwant %q", got, parent)
			}
		})
	}
}

func TestLineFlags(t *testing.T) {
	f := readFiles(t, map[string]string{"main.conf": "$A=x\na $A\nb {\nc\n"}, lb1)
	want := []Line{
		{Text: "a x", Pos: Pos{"main.conf", 2}, Expanded: true},
		{Text: "b", Pos: Pos{"main.conf", 3}, Shared: true},
		{Text: "{", Pos: Pos{"main.conf", 3}, Shared: true},
		{Text: "c", Pos: Pos{"main.conf", 4}},
	}
	if !slices.Equal(f.Lines, want) {
		t.Errorf("got %+v\nwant %+v", f.Lines, want)
	}
	if got := f.Raw(Pos{"main.conf", 2}); got != "a $A" {
		t.Errorf("Raw = %q", got)
	}
}

func TestInclude(t *testing.T) {
	files := map[string]string{
		"main.conf":       "a 1\ninclude conf.d/*.conf\ninclude {b,a}.inc\n@lb1 include sub/hidden.conf\nz 1\n",
		"conf.d/1.conf":   "c1 1\ninclude ../sub/rel.conf\n",
		"conf.d/2.conf":   "c2 1\n",
		"conf.d/.3.conf":  "hidden files do not match a wildcard\n",
		"sub/rel.conf":    "rel 1\n",
		"b.inc":           "b 1\n",
		"a.inc":           "a_inc 1\n",
		"sub/hidden.conf": "h 1\n",
	}
	f := readFiles(t, files, lb1)
	want := []string{"1 a 1", "conf.d/1.conf:1 c1 1", "sub/rel.conf:1 rel 1", "conf.d/2.conf:1 c2 1", "b.inc:1 b 1", "a.inc:1 a_inc 1",
		// an include behind @ID: the children include it themselves, and
		// read the parent's copy of it too.
		"sub/hidden.conf:1 h 1", "sub/hidden.conf:1 h 1", "5 z 1"}
	if got := lineTexts(f.Lines); !slices.Equal(got, want) {
		t.Errorf("children:\n got %q\nwant %q", got, want)
	}
	wantParent := slices.Delete(slices.Clone(want), 6, 7)
	if got := lineTexts(f.ParentLines); !slices.Equal(got, wantParent) {
		t.Errorf("parent:\n got %q\nwant %q", got, wantParent)
	}
	wantFiles := []string{"main.conf", "conf.d/1.conf", "sub/rel.conf", "conf.d/2.conf", "b.inc", "a.inc", "sub/hidden.conf"}
	if !slices.Equal(f.Files, wantFiles) {
		t.Errorf("Files = %q, want %q", f.Files, wantFiles)
	}
	var inc []string
	for _, i := range f.Includes {
		inc = append(inc, fmt.Sprintf("%s %s %q child=%v", i.Line.Pos, i.Pattern, i.Files, i.Child))
	}
	wantInc := []string{
		`main.conf:2 conf.d/*.conf ["conf.d/1.conf" "conf.d/2.conf"] child=false`,
		`conf.d/1.conf:2 ../sub/rel.conf ["sub/rel.conf"] child=false`,
		`main.conf:3 {b,a}.inc ["b.inc" "a.inc"] child=false`,
		`main.conf:4 sub/hidden.conf ["sub/hidden.conf"] child=false`,
		`main.conf:4 sub/hidden.conf ["sub/hidden.conf"] child=true`,
	}
	if !slices.Equal(inc, wantInc) {
		t.Errorf("Includes:\n got %q\nwant %q", inc, wantInc)
	}
}

func TestIncludeProblems(t *testing.T) {
	fsys := mapFS(map[string]string{
		"main.conf": "include missing.conf\ninclude nomatch*.conf\ninclude /etc/keepalived/x.conf\ninclude dir\ninclude run.sh\nincludem gone.conf\ninclude ../up.conf\n",
		"dir/x":     "",
	})
	fsys["run.sh"] = &fstest.MapFile{Data: []byte("x 1\n"), Mode: 0o755}
	f, err := ReadFS(fsys, "main.conf", lb1)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]string{
		1: "Config files missing 'missing.conf'",
		2: "No config files matched 'nomatch*.conf'",
		3: "absolute path",
		4: "is a directory",
		5: "not a regular non-executable file",
		6: "refuses to start",
		7: "leaves the directory",
	}
	for line, msg := range want {
		if !hasProblem(f, line, msg) {
			t.Errorf("no problem %q at line %d: %v", msg, line, f.Problems)
		}
	}
	if len(f.Lines) != 0 {
		t.Errorf("lines read: %v", f.Lines)
	}

	// With a root, an absolute include is read under it.
	root := mapFS(map[string]string{"etc/keepalived/x.conf": "from_root 1\n"})
	f, err = ReadFS(mapFS(map[string]string{"main.conf": "include /etc/keepalived/*.conf\n"}), "main.conf", Options{ConfigID: "lb1", Root: root})
	if err != nil {
		t.Fatal(err)
	}
	if got := lineTexts(f.Lines); !slices.Equal(got, []string{"/etc/keepalived/x.conf:1 from_root 1"}) {
		t.Errorf("with a root: %q", got)
	}
}

func hasProblem(f *File, line int, msg string) bool {
	for _, p := range f.Problems {
		if p.Pos.Line == line && strings.Contains(p.Message, msg) {
			return true
		}
	}
	return false
}

// The children take every line starting with '#' or '!' for a mark of
// keepalived's configuration copy, even in a file they include
// themselves.
func TestCopyMarks(t *testing.T) {
	files := map[string]string{
		"main.conf": "@lb1 include inc.conf\nz 1\n",
		"inc.conf":  "a 1\n! ends the file for the children\nb 1\n",
	}
	f := readFiles(t, files, lb1)
	want := []string{"inc.conf:1 a 1", "inc.conf:1 a 1", "inc.conf:3 b 1", "2 z 1"}
	if got := lineTexts(f.Lines); !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}

	files["inc.conf"] = "# a comment with no '!' after it\nx 1\n"
	f = readFiles(t, files, lb1)
	if !hasProblem(f, 2, "crash") {
		t.Errorf("no crash problem: %v", f.Problems)
	}

	// A \# at the start of a line becomes a '#' in the copy: the
	// children take it for the start of a file, and read on.
	f = readFiles(t, map[string]string{"main.conf": "\\#x 1\ny 1\n"}, lb1)
	if got := lineTexts(f.Lines); !slices.Equal(got, []string{"2 y 1"}) {
		t.Errorf("children: %q", got)
	}
	if got := lineTexts(f.ParentLines); !slices.Equal(got, []string{"1 #x 1", "2 y 1"}) {
		t.Errorf("parent: %q", got)
	}
}

func TestLimits(t *testing.T) {
	cases := []struct {
		name, in, limit string
		files           map[string]string
	}{
		{name: "an include of itself", in: "include main.conf\n", limit: "MaxIncludeDepth"},
		{name: "definitions in a cycle", in: "$A=$B\n$B=$A\nx $A\n", limit: "MaxExpansionDepth"},
		{name: "a huge ~SEQ", in: "~SEQ(i,1,100000000) x $i\n", limit: "MaxSeqElements"},
		{name: "nested ~SEQ", in: "~SEQ(i,60000) ~SEQ(j,60000) a_long_keyword_line $i $j\n", limit: "MaxExpandedBytes"},
		{name: "braces", in: "include {a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}\n", limit: "MaxBraceAlternatives"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ReadFS(mapFS(map[string]string{"main.conf": c.in}), "main.conf", lb1)
			var le *LimitError
			if !errors.As(err, &le) || le.Limit != c.limit {
				t.Fatalf("error %v, want a LimitError of %s", err, c.limit)
			}
			if le.Pos.File != "main.conf" || !strings.Contains(err.Error(), c.limit) {
				t.Errorf("error %q names no position or limit", err)
			}
		})
	}
}

func TestOptions(t *testing.T) {
	fsys := mapFS(map[string]string{"main.conf": "x 1\n"})
	for _, o := range []Options{{}, {ConfigID: "a", NoConfigID: true}, {ConfigID: "a b"}} {
		if _, err := ReadFS(fsys, "main.conf", o); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
	if _, err := ReadFS(fsys, "absent.conf", lb1); err == nil || !strings.Contains(err.Error(), "absent.conf") {
		t.Errorf("absent main file: %v", err)
	}
	var pe *fs.PathError
	_ = pe
}
