package conf

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// outline writes a tree one node a line, indented by depth.
func outline(nodes []*Node) []string {
	var out []string
	var walk func([]*Node, string)
	walk = func(ns []*Node, indent string) {
		for _, n := range ns {
			s := indent + n.Keyword
			if len(n.Args) > 0 {
				s += " " + strings.Join(n.Args, " ")
			}
			switch n.Kind {
			case UnknownKeyword:
				s += " ?"
			case Entry:
				s = indent + "= " + strings.TrimPrefix(s, indent)
			}
			if n.Skipped {
				s += " (skipped)"
			}
			out = append(out, s)
			walk(n.Children, indent+"  ")
		}
	}
	walk(nodes, "")
	return out
}

func unknownNames(f *File) []string {
	var out []string
	for _, u := range f.Unknown {
		out = append(out, fmt.Sprintf("%d %s %s", u.Pos.Line, u.Name, u.Process))
	}
	slices.SortStableFunc(out, func(a, b string) int {
		var x, y int
		fmt.Sscan(a, &x)
		fmt.Sscan(b, &y)
		return x - y
	})
	return out
}

func TestTree(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		vrrp    []string
		checker []string
		parent  []string
		unknown []string
	}{
		{
			name:   "blocks, values and the brace on the next line",
			in:     "global_defs {\n router_id r1\n}\nvrrp_instance VI_1\n{\n interface eth0\n virtual_ipaddress {\n  192.0.2.1/24 dev eth0\n  192.0.2.2\n }\n}\n",
			parent: []string{"global_defs", "  router_id r1"},
			vrrp:   []string{"vrrp_instance VI_1", "  interface eth0", "  virtual_ipaddress", "    = 192.0.2.1/24 dev eth0", "    = 192.0.2.2"},
		},
		{
			name: "values on one line",
			in:   "vrrp_instance V {\n virtual_ipaddress { 192.0.2.1 192.0.2.2 }\n}\n",
			vrrp: []string{"vrrp_instance V", "  virtual_ipaddress", "    = 192.0.2.1 192.0.2.2"},
		},
		{
			name:    "an unknown block closes the block around it",
			in:      "vrrp_instance V {\n interface eth0\n foo {\n  bar 1\n }\n after 1\n}\nlast 1\n",
			vrrp:    []string{"vrrp_instance V", "  interface eth0", "  foo ?", "  bar 1 ?", "after 1 ?", "} ?", "last 1 ?"},
			checker: []string{"last 1 ?"},
			parent:  []string{"last 1 ?"},
			unknown: []string{"3 foo vrrp", "4 bar vrrp", "6 after vrrp", "7 } vrrp", "8 last parent"},
		},
		{
			name:    "an unknown block inside a checker",
			in:      "virtual_server 192.0.2.1 80 {\n real_server 192.0.2.2 80 {\n  TCP_CHECK {\n   unk {\n    x\n   }\n   connect_timeout 3\n  }\n }\n}\n",
			checker: []string{"virtual_server 192.0.2.1 80", "  real_server 192.0.2.2 80", "    TCP_CHECK", "      unk ?", "      x ?", "    connect_timeout 3", "} ?"},
			unknown: []string{"4 unk checker", "5 x checker", "10 } checker"},
		},
		{
			name:    "a second instance of a name is skipped",
			in:      "vrrp_instance V {\n priority 1\n}\nvrrp_instance V {\n priority 2\n}\nvrrp_instance {\n priority 3\n}\n",
			vrrp:    []string{"vrrp_instance V", "  priority 1", "vrrp_instance V (skipped)", "vrrp_instance (skipped)"},
			unknown: nil,
		},
		{
			name:    "a virtual server keepalived cannot read is skipped",
			in:      "virtual_server 192.0.2.300 80 {\n real_server 192.0.2.2 80 {\n }\n}\nvirtual_server fwmark 7 {\n}\n",
			checker: []string{"virtual_server 192.0.2.300 80 (skipped)", "virtual_server fwmark 7"},
		},
		{
			name:    "virtual_server_group takes values after its name",
			in:      "virtual_server_group G {\n 192.0.2.1-10 80\n fwmark 3\n}\n",
			checker: []string{"virtual_server_group G", "  = 192.0.2.1-10 80", "  = fwmark 3"},
		},
		{
			name:    "a sync group's second group block ends the sync group",
			in:      "vrrp_sync_group G {\n group {\n  A\n }\n group {\n  B\n }\n notify_master /x\n}\n",
			vrrp:    []string{"vrrp_sync_group G", "  group", "    = A", "  group (skipped)", "notify_master /x ?", "} ?"},
			unknown: []string{"8 notify_master vrrp", "9 } vrrp"},
		},
		{
			// The other processes skip a block by its braces: without
			// a "{" they read its keywords at the top.
			name:    "a missing '{'",
			in:      "vrrp_script s\n script x\n interval 2\n}\n",
			vrrp:    []string{"vrrp_script s", "  script x", "  interval 2"},
			checker: []string{"script x ?", "interval 2 ?", "} ?"},
			parent:  []string{"script x ?", "interval 2 ?", "} ?"},
			unknown: []string{"2 script parent", "3 interval parent", "4 } parent"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := readFiles(t, map[string]string{"main.conf": c.in}, lb1)
			for _, v := range []struct {
				name      string
				got, want []string
			}{
				{"vrrp", outline(f.Tree.VRRP), c.vrrp},
				{"checker", outline(f.Tree.Checker), c.checker},
				{"parent", outline(f.Tree.Parent), c.parent},
			} {
				if !slices.Equal(v.got, v.want) {
					t.Errorf("%s tree:\n got %q\nwant %q", v.name, v.got, v.want)
				}
			}
			if c.unknown != nil || len(f.Unknown) > 0 {
				if got := unknownNames(f); !slices.Equal(got, c.unknown) {
					t.Errorf("unknown:\n got %q\nwant %q", got, c.unknown)
				}
			}
		})
	}
}

func TestGrammar(t *testing.T) {
	if _, err := parseGrammar(keywords227, keywordParts227); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"@nowhere\nx\n", "@vrrp\n  x\n", "@vrrp\nx {\n   y\n", "@vrrp\nx\n  y\n", "@vrrp\nx ?\n", "@vrrp\nx {\n  *nopart\n", "@vrrp\nx {\n  *loop\n"} {
		if _, err := parseGrammar(bad, map[string]string{"loop": "*loop"}); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	// Spot checks of the table against keepalived's sources.
	for _, p := range [][]string{
		{"vrrp_instance", "track_script"},
		{"virtual_server", "real_server", "HTTP_GET", "url", "status_code"},
		{"virtual_server", "real_server", "SMTP_CHECK", "host", "connect_ip"},
		{"global_defs", "lvs_sync_daemon"},
		{"bfd_instance", "weight"},
	} {
		table := grammar227
		for i, w := range p {
			k := table[w]
			if k == nil {
				t.Fatalf("%v: no %s", p, w)
			}
			if i < len(p)-1 {
				table = k.sub
			}
		}
	}
	if k := grammar227["vrrp_instance"].sub["track_file"]; k.kind != Values {
		t.Errorf("vrrp_instance track_file is %v, want a block of values", k.kind)
	}
	if k := grammar227["virtual_server"].sub["real_server"].sub["MISC_CHECK"].sub["connect_ip"]; k != nil {
		t.Errorf("MISC_CHECK has connect_ip")
	}
}

func TestTokens(t *testing.T) {
	for in, want := range map[string][]string{
		`a b  c`:            {"a", "b", "c"},
		`"Q5 spaced" z`:     {"Q5 spaced", "z"},
		`ab"c d" e`:         {"ab", "c d", "e"},
		`x "" y`:            {"x", "", "y"},
		"t\tu\vv":           {"t", "u", "v"},
		`a "unterminated b`: {"a"},
	} {
		got, _ := tokens(nil, in)
		if !slices.Equal(got, want) {
			t.Errorf("tokens(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMissingBrace(t *testing.T) {
	f := readFiles(t, map[string]string{"main.conf": "vrrp_instance V {\n priority 1\n"}, lb1)
	if !hasProblem(f, 2, "1 missing '}'") {
		t.Errorf("problems %v", f.Problems)
	}
	if f.Instances[0].Priority.Value != 1 {
		t.Errorf("instance %+v", f.Instances[0])
	}
}
