package conf

import (
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// maxReadTime is how long one read may take: the limits (limits.go) are
// there to keep every input under it.
const maxReadTime = 100 * time.Millisecond

// FuzzRead reads every input as a main file that may include a second
// one, then applies the defaults and takes its facts; it also reads the
// input as a keepalived dump. No input may panic or take longer than
// maxReadTime.
//
//	go test ./harness/keepalived/conf -run '^$' -fuzz FuzzRead -fuzztime 5m
func FuzzRead(f *testing.F) {
	fs.WalkDir(os.DirFS(fixtures), ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			data, _ := os.ReadFile(filepath.Join(fixtures, p))
			f.Add(string(data))
		}
		return nil
	})
	samples, _ := filepath.Glob("/usr/share/doc/keepalived/samples/keepalived.conf.*")
	for _, s := range samples {
		if data, err := os.ReadFile(s); err == nil {
			f.Add(string(data))
		}
	}
	for _, s := range []string{
		"$M=a \\\n b\nuse $M\n~SEQ(i,3) $M\n@lb1 include inc.conf\n",
		"~LST({x,y},{1,2},{3}) w_${x}_${y}\n${_RANDOM 5 9} x\n\\#a\n",
		"vrrp_instance V {\n foo {\n }\n virtual_ipaddress { 192.0.2.1 }\n}\n",
		"include {a,b}*.conf\ninclude ../x\ninclude /abs\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		// On a shared machine one run can stall for a scheduler or a
		// collection: an input is slow when its fastest of three is.
		fastest := time.Duration(1<<63 - 1)
		for range 3 {
			d := readOnce(t, in)
			fastest = min(fastest, d)
			if fastest <= maxReadTime {
				break
			}
		}
		if fastest > maxReadTime {
			t.Fatalf("reading %d bytes took %s at best, over %s", len(in), fastest, maxReadTime)
		}
	})
}

func readOnce(t *testing.T, in string) time.Duration {
	start := time.Now()
	files := mapFS(map[string]string{"main.conf": in, "inc.conf": "# from inc\nvrrp_script s {\n script /x\n}\n!\n"})
	file, err := ReadFS(files, "main.conf", lb1)
	if err == nil {
		Defaults(file, "2.2.7")
		file.Facts()
		for _, c := range file.Commands {
			file.Raw(c.Line.Pos)
		}
	} else if !strings.Contains(err.Error(), "main.conf") {
		t.Fatalf("an error that names no file: %v", err)
	}
	ParseDump(in, in)
	return time.Since(start)
}

// BenchmarkExpanded reads a configuration that expands to just under
// MaxExpandedBytes (real servers with a checker each, made by ~SEQ): the
// measurement behind the limit.
//
//	go test ./harness/keepalived/conf -run '^$' -bench Expanded
func BenchmarkExpanded(b *testing.B) {
	rs := "real_server 198.18.0.1 $i { \\\n weight 1 \\\n TCP_CHECK { \\\n  connect_timeout 2 \\\n  delay_before_retry 1 \\\n } \\\n}\n"
	n := MaxExpandedBytes * 9 / 10 / 110 // about 110 bytes of lines a server
	in := "$RS=" + rs + "virtual_server 192.0.2.1 80 {\n~SEQ(i, " + strconv.Itoa(n) + ") $RS\n}\n"
	files := mapFS(map[string]string{"main.conf": in})
	for b.Loop() {
		if _, err := ReadFS(files, "main.conf", lb1); err != nil {
			b.Fatal(err)
		}
	}
}
