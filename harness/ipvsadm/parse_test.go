//go:build linux

package ipvsadm

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/lvslab/lvslab/harness"
)

// parseCase is a rules file and the table it must give, written back as
// ipvsadm -S -n would (Write), plus the findings it must note.
type parseCase struct {
	name     string
	in       string
	want     string
	findings []string
}

var parseCases = []parseCase{
	{
		name: "ipvsadm -S -n output, every method and flag",
		in: `-A -t 198.51.100.10:80 -s rr
-a -t 198.51.100.10:80 -r 192.0.2.11:80 -m -w 1
-a -t 198.51.100.10:80 -r 192.0.2.12:8080 -m -w 3
-A -u 198.51.100.10:53 -s wlc -p 300 -M 255.255.255.0 -o
-a -u 198.51.100.10:53 -r 192.0.2.11:53 -g -w 0
-A -f 7 -s sh -b sh-fallback,sh-port
-a -f 7 -r 192.0.2.11:0 -g -w 1
-A -f 8 -6 -s rr
-a -f 8 -6 -r [2001:db8::11]:0 -m -w 1
-A -t [2001:db8::10]:443 -s mh -p 60 -M 64 -b mh-port
-a -t [2001:db8::10]:443 -r [2001:db8::11]:443 -i -w 2 --tun-type ipip
-a -t [2001:db8::10]:443 -r 192.0.2.13:443 -i -w 1 --tun-type ipip
`,
		want: `-A -t 198.51.100.10:80 -s rr
-a -t 198.51.100.10:80 -r 192.0.2.11:80 -m -w 1
-a -t 198.51.100.10:80 -r 192.0.2.12:8080 -m -w 3
-A -u 198.51.100.10:53 -s wlc -p 300 -M 255.255.255.0 -o
-a -u 198.51.100.10:53 -r 192.0.2.11:53 -g -w 0
-A -f 7 -s sh -b sh-fallback,sh-port
-a -f 7 -r 192.0.2.11:0 -g -w 1
-A -f 8 -6 -s rr
-a -f 8 -6 -r [2001:db8::11]:0 -m -w 1
-A -t [2001:db8::10]:443 -s mh -p 60 -M 64 -b mh-port
-a -t [2001:db8::10]:443 -r [2001:db8::11]:443 -i -w 2 --tun-type ipip
-a -t [2001:db8::10]:443 -r 192.0.2.13:443 -i -w 1 --tun-type ipip
`,
		findings: []string{"line 6: FWM 7: a firewall-mark service", "line 8: FWM 8 IPv6: a firewall-mark service"},
	},
	{
		name: "ipvsadm's defaults: wlc, direct routing, weight 1, the service's port, 300 s",
		in: `-A -t 198.51.100.1:80
-a -t 198.51.100.1:80 -r 192.0.2.1
-A -t 198.51.100.1:0 -s rr -p
-a -t 198.51.100.1:0 -r 192.0.2.1 -m
-A -u 198.51.100.1:53 -p -M 255.255.0.0
-A -t 198.51.100.2 -p 10
-A -t 2001:db8::1 -p 10
`,
		want: `-A -t 198.51.100.1:80 -s wlc
-a -t 198.51.100.1:80 -r 192.0.2.1:80 -g -w 1
-A -t 198.51.100.1:0 -s rr -p 300
-a -t 198.51.100.1:0 -r 192.0.2.1:0 -m -w 1
-A -u 198.51.100.1:53 -s wlc -p 300 -M 255.255.0.0
-A -t 198.51.100.2:0 -s wlc -p 10
-A -t [2001:db8::1]:0 -s wlc -p 10
`,
	},
	{
		name: "long options, = values, clustered short options, attached values",
		in: `--add-service --tcp-service 198.51.100.1:80 --scheduler wrr --persistent 60 --netmask 255.255.255.128
--add-server --tcp-service=198.51.100.1:80 --real-server=192.0.2.2:8080 --masquerading --weight=0 --u-threshold 10 --l-threshold 5
-at 198.51.100.1:80 -r192.0.2.3:81 -mw7
-At198.51.100.2:80 -srr -p30
--add-server --tcp-service 198.51.100.2:80 --real-server 192.0.2.4 --gatewaying --weight 2
--add-server --tcp-service 198.51.100.2:80 --real-server 192.0.2.5 --ipip --tun-type gue --tun-port 6080 --tun-csum
--add-service --udp-service 198.51.100.2:53 --ops --sched-flags flag-3 --persistent
--add-service --fwmark-service 9 --ipv6 --scheduler sh --sched-flags=sh-port
`,
		want: `-A -t 198.51.100.1:80 -s wrr -p 60 -M 255.255.255.128
-a -t 198.51.100.1:80 -r 192.0.2.2:8080 -m -w 0 -x 10 -y 5
-a -t 198.51.100.1:80 -r 192.0.2.3:81 -m -w 7
-A -t 198.51.100.2:80 -s rr -p 30
-a -t 198.51.100.2:80 -r 192.0.2.4:80 -g -w 2
-a -t 198.51.100.2:80 -r 192.0.2.5:80 -i -w 1 --tun-type gue --tun-port 6080 --tun-csum
-A -u 198.51.100.2:53 -s wlc -p 300 -o -b flag-3
-A -f 9 -6 -s sh -b sh-port
`,
		findings: []string{"real servers tunnelled with gue"},
	},
	{
		name: "comments, blank lines, an ipvsadm word, CRLF and tabs",
		in: "# saved by ipvsadm-save -n\n\n   # indented comment\r\n" +
			"ipvsadm -A -t 198.51.100.1:80 -s rr\r\n\t-a\t-t 198.51.100.1:80 -r 192.0.2.1:80 -m -w 1 \r\nipvsadm\n",
		want: `-A -t 198.51.100.1:80 -s rr
-a -t 198.51.100.1:80 -r 192.0.2.1:80 -m -w 1
`,
	},
	{
		name: "-C clears what came before, -E, -e, -D, -d change the table, --set the timeouts",
		in: `-A -t 198.51.100.9:80 -s rr
-C
-A -t 198.51.100.1:80 -s rr
-a -t 198.51.100.1:80 -r 192.0.2.1 -m
-a -t 198.51.100.1:80 -r 192.0.2.2 -m
-a -t 198.51.100.1:80 -r 192.0.2.3 -m
-E -t 198.51.100.1:80 -s wrr -p 20
-e -t 198.51.100.1:80 -r 192.0.2.1 -m -w 5
-d -t 198.51.100.1:80 -r 192.0.2.2
-A -u 198.51.100.1:53 -s rr
-D -u 198.51.100.1:53
--set 900 120 0
--set 0 0 300
-Z
`,
		want: `-C
-A -t 198.51.100.1:80 -s wrr -p 20
-a -t 198.51.100.1:80 -r 192.0.2.1:80 -m -w 5
-a -t 198.51.100.1:80 -r 192.0.2.3:80 -m -w 1
--set 900 120 300
`,
		findings: []string{"-Z zeroes counters"},
	},
	{
		name: "legal but unchecked: SCTP, a persistence engine, GRE and GUE tunnels, sync daemons, ignored ports",
		in: `-A --sctp-service 198.51.100.1:9 -s rr
-a --sctp-service 198.51.100.1:9 -r 192.0.2.1:9 -m -w 1
-A -u 198.51.100.1:5060 -s rr -p 60 --pe sip
-A -t 198.51.100.1:80 -s rr -M 255.255.255.0
-a -t 198.51.100.1:80 -r 192.0.2.1:8080 -g -w 1
-a -t 198.51.100.1:80 -r 192.0.2.2 -i --tun-type gre --tun-csum
-a -t 198.51.100.1:80 -r 192.0.2.3 -i --tun-type gre
--start-daemon master --mcast-interface eth0 --syncid 3
--stop-daemon backup
`,
		want: `-A --sctp-service 198.51.100.1:9 -s rr
-a --sctp-service 198.51.100.1:9 -r 192.0.2.1:9 -m -w 1
-A -u 198.51.100.1:5060 -s rr -p 60 --pe sip
-A -t 198.51.100.1:80 -s rr
-a -t 198.51.100.1:80 -r 192.0.2.1:80 -g -w 1
-a -t 198.51.100.1:80 -r 192.0.2.2:80 -i -w 1 --tun-type gre --tun-csum
-a -t 198.51.100.1:80 -r 192.0.2.3:80 -i -w 1 --tun-type gre --tun-nocsum
`,
		findings: []string{
			"line 4: -M 255.255.255.0 has no effect without -p",
			"line 5: real server 192.0.2.1: port 8080 ignored",
			"line 8: --start-daemon master is not restored",
			"line 9: --stop-daemon backup is not restored",
			"SCTP", "persistence engine sip", "tunnelled with gre",
		},
	},
}

func TestParse(t *testing.T) {
	for _, c := range parseCases {
		t.Run(c.name, func(t *testing.T) {
			tab, err := Parse("rules", strings.NewReader(c.in))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			var b strings.Builder
			if err := Write(&b, tab); err != nil {
				t.Fatal(err)
			}
			if b.String() != c.want {
				t.Errorf("written back:\n%s\nwant:\n%s", b.String(), c.want)
			}
			notes := findings(tab)
			for _, f := range c.findings {
				if !strings.Contains(notes, f) {
					t.Errorf("no finding %q in:\n%s", f, notes)
				}
			}
			if len(c.findings) == 0 && notes != "" {
				t.Errorf("unexpected findings:\n%s", notes)
			}
			again, err := Parse("written", strings.NewReader(b.String()))
			if err != nil {
				t.Fatalf("Parse of Write's output: %v", err)
			}
			if d := Diff(tab, again); d != nil {
				t.Errorf("Write then Parse differs:\n%s", strings.Join(d, "\n"))
			}
		})
	}
}

// findings are the table's findings and its services' unchecked reasons.
func findings(t *Table) string {
	var b strings.Builder
	for _, f := range t.Findings {
		fmt.Fprintln(&b, f)
	}
	for _, s := range t.Services {
		for _, u := range s.Unchecked() {
			fmt.Fprintf(&b, "line %d: %s: %s\n", s.Line, s.Key(), u)
		}
	}
	return b.String()
}

func TestParseFields(t *testing.T) {
	tab, err := Parse("rules", strings.NewReader(parseCases[0].in))
	if err != nil {
		t.Fatal(err)
	}
	udp := tab.Service(ServiceKey{Protocol: "udp", Addr: netip.MustParseAddr("198.51.100.10"), Port: 53})
	if udp == nil {
		t.Fatal("no UDP service")
	}
	want := harness.Service{Protocol: "udp", Addr: netip.MustParseAddr("198.51.100.10"), Port: 53, Scheduler: "wlc",
		Persistence: 300 * time.Second, PersistenceBits: 24, Flags: harness.FlagOnePacket}
	if udp.Service != want || udp.Line != 4 {
		t.Errorf("UDP service %+v at line %d, want %+v at line 4", udp.Service, udp.Line, want)
	}
	fwm := tab.Service(ServiceKey{Addr: netip.IPv4Unspecified(), FWMark: 7})
	if fwm == nil || fwm.Flags != FlagSched1|FlagSched2 || fwm.Protocol != "" || len(fwm.Reals) != 1 {
		t.Fatalf("firewall-mark service 7: %+v", fwm)
	}
	tun := tab.Service(ServiceKey{Protocol: "tcp", Addr: netip.MustParseAddr("2001:db8::10"), Port: 443})
	r := tun.Real(netip.MustParseAddr("192.0.2.13"), 443)
	if r == nil || r.Method != harness.MethodTUN || r.Line != 12 || r.Tunnel != (Tunnel{Type: TunnelIPIP}) {
		t.Errorf("IPv4 tunnelled real server of an IPv6 service: %+v", r)
	}
	if s, reals := tab.Counts(); s != 5 || reals != 7 {
		t.Errorf("Counts = %d, %d; want 5, 7", s, reals)
	}
}

// errorCase is a rules file and the error it must give: its line and
// words of the message.
type errorCase struct {
	in   string
	line int
	msg  string
}

const svc = "-A -t 198.51.100.1:80 -s rr\n"

var errorCases = []errorCase{
	{"-A -t 198.51.100.1:80 -w 2", 1, "-w does not go with -A (add service)"},
	{"-a -t 198.51.100.1:80 -r 192.0.2.1", 1, "names service TCP 198.51.100.1:80, which no line before adds: add it with -A first"},
	{svc + svc, 2, "service TCP 198.51.100.1:80 is already added at line 1: use -E to change it"},
	{svc + "-a -t 198.51.100.1:80 -r 192.0.2.1\n-a -t 198.51.100.1:80 -r 192.0.2.1:80 -m", 3, "already added at line 2: use -e"},
	{"-A -t 198.51.100.1 -s rr", 1, "port 0 (every port) needs persistence"},
	{"-A -t www.example.com:80", 1, "www.example.com is not a numeric IPv4 or IPv6 address"},
	{"-A -t 198.51.100.1:http", 1, "port http is not a number"},
	{"-A -t 198.51.100.1:70000", 1, "port 70000 is not a number from 0 to 65535"},
	{"-A -t 198.51.100.1:80 -o", 1, "one-packet scheduling) is for UDP services only"},
	{"-A -t 198.51.100.1:80 -s rr -b sh-port", 1, "sh-port is a flag of the sh scheduler, not rr: use -s sh"},
	{"-A -t 198.51.100.1:80 -b sh-port", 1, "not wlc"},
	{"-A -t 198.51.100.1:80 -s sh -b sh-port,,flag-1", 1, "is not a scheduler flag"},
	{"-A -t 198.51.100.1:80 -s RR", 1, "-s RR: a scheduler is named by up to 15 lowercase letters"},
	{"-A -t 198.51.100.1:80 -s rr --pe sip_engine_too_long", 1, "a persistence engine is named"},
	{svc + "-a -t 198.51.100.1:80 -r 192.0.2.1 -w 70000", 2, "-w 70000: a weight is a number from 0 to 65535"},
	{svc + "-a -t 198.51.100.1:80 -r 192.0.2.1 -w -1", 2, "-w -1: a weight"},
	{svc + "-a -t 198.51.100.1:80 -r 192.0.2.1 -y 5", 2, "lower threshold 5 is above upper threshold 0"},
	{svc + "-a -t 198.51.100.1:80 -r 192.0.2.1 -m --tun-type gue", 2, "--tun-type is for tunnelled real servers only: add -i"},
	{svc + "-a -t 198.51.100.1:80 -r 192.0.2.1 -i --tun-type gue", 2, "--tun-type gue needs --tun-port"},
	{svc + "-a -t 198.51.100.1:80 -r 192.0.2.1 -i --tun-type vxlan", 2, "a tunnel type is ipip, gue or gre"},
	{svc + "-a -t 198.51.100.1:80 -r 192.0.2.1 -i --tun-port 5555", 2, "--tun-port is for --tun-type gue only"},
	{svc + "-a -t 198.51.100.1:80 -r 192.0.2.1 -i --tun-csum", 2, "--tun-csum does not go with --tun-type ipip"},
	{svc + "-a -t 198.51.100.1:80 -r 192.0.2.1 -i --tun-type gre --tun-remcsum", 2, "--tun-remcsum does not go with --tun-type gre"},
	{svc + "-a -t 198.51.100.1:80 -r 192.0.2.1 -i --tun-type gue --tun-port 1 --tun-csum --tun-remcsum", 2, "--tun-csum and --tun-remcsum both give the tunnel checksum"},
	{svc + "-a -t 198.51.100.1:80 -r 192.0.2.1 -m -g", 2, "-m and -g both give the forwarding method: keep one"},
	{svc + "-a -t 198.51.100.1:80 -r 192.0.2.1 -w 1 --weight 2", 2, "--weight is given twice"},
	{svc + "-a -t 198.51.100.1:80 -r [2001:db8::5]:80 -m", 2, "are of different families: only tunnelling (-i) crosses them"},
	{svc + "-a -t 198.51.100.1:80", 2, "-a (add real server) needs the real server: -r ADDR[:PORT]"},
	{"-a -r 192.0.2.1", 1, "-a (add real server) needs the service"},
	{"-A -t 198.51.100.1:80 -s rr # web", 1, "a comment after a rule"},
	{"-t 198.51.100.1:80 -A", 1, "the rule starts with -t, not a command"},
	{"-L -n", 1, "-L is not a rule (it lists the table)"},
	{"-S", 1, "-S is not a rule"},
	{"-A -a -t 198.51.100.1:80", 1, "two commands, -A and -a"},
	{"-A -t [198.51.100.1]:80", 1, "brackets hold an IPv6 address"},
	{"-A -t [2001:db8::1]", 1, "an address in brackets takes a port"},
	{"-A -t [2001:db8::1]80", 1, "an address in brackets takes a port"},
	{"-A -t 80", 1, "a number, not an address"},
	{"-A -t ::ffff:198.51.100.1 -p", 1, "an IPv4-mapped IPv6 address: write it as the IPv4 address 198.51.100.1"},
	{"-A -t fe80::1%eth0 -p", 1, "an IPv6 zone"},
	{"-A -t 198.51.100.1:80 -s rr -6", 1, "-6 makes a firewall-mark service IPv6: give it after -f MARK"},
	{"-A -6 -f 1", 1, "give it after -f MARK"},
	{"-A -f 0", 1, "-f 0: a firewall mark is a number from 1 to 4294967295"},
	{"-A -f 4294967296", 1, "a firewall mark is a number"},
	{"-A -t 198.51.100.1:80 -p 0", 1, "-p 0: persistence is 1 to 2678400 seconds"},
	{"-A -t 198.51.100.1:80 -p 2678401", 1, "persistence is 1 to 2678400 seconds"},
	{"-A -t 198.51.100.1:80 -p 30 -M 24", 1, "-M 24: an IPv4 service's persistence netmask is dotted"},
	{"-A -t 198.51.100.1:80 -p 30 -M 255.0.255.0", 1, "a contiguous netmask"},
	{"-A -t 198.51.100.1:80 -p 30 -M 0.0.0.0", 1, "a contiguous netmask"},
	{"-A -t [2001:db8::1]:80 -p 30 -M 129", 1, "a prefix length from 1 to 128"},
	{"--set 1 2", 1, "--set takes three timeouts"},
	{"--set 1 2 x", 1, "timeout x is not 0 to 2678400 seconds"},
	{"-E -t 198.51.100.1:80 -s rr", 1, "-E names service TCP 198.51.100.1:80, which no line before adds"},
	{"-D -u 198.51.100.1:53", 1, "-D names service UDP 198.51.100.1:53"},
	{svc + "-e -t 198.51.100.1:80 -r 192.0.2.9", 2, "-e names real server 192.0.2.9:80"},
	{svc + "-d -t 198.51.100.1:80 -r 192.0.2.9:81", 2, "-d names real server 192.0.2.9:81"},
	{"-A -t 198.51.100.1:80 -s", 1, "-s needs a value"},
	{"-A -t 198.51.100.1:80 --bogus", 1, "unknown option --bogus"},
	{"-A -t 198.51.100.1:80 -q", 1, "unknown option -q"},
	{svc + "-a -t 198.51.100.1:80 -r 192.0.2.1 --masquerading=1", 2, "--masquerading takes no value"},
	{"-A -t 198.51.100.1:80 extra", 1, "unexpected argument extra"},
	{"--start-daemon primary", 1, "a sync daemon is master or backup"},
	{"hello", 1, "no command in hello"},
	{"-A -t \x00:80", 1, `"\x00" is not a numeric`},
	{"\n\n-A -t " + strings.Repeat("1", maxLine), 3, "a line longer than 64 KiB"},
}

func TestParseErrors(t *testing.T) {
	for _, c := range errorCases {
		t.Run(fmt.Sprintf("%.60q", c.in), func(t *testing.T) {
			tab, err := Parse("bad.rules", strings.NewReader(c.in))
			if err == nil {
				t.Fatalf("no error; table %+v", tab)
			}
			if tab != nil {
				t.Error("a table despite the error")
			}
			var le *LineError
			if !errors.As(err, &le) {
				t.Fatalf("%v is not a *LineError", err)
			}
			if le.File != "bad.rules" || le.Line != c.line {
				t.Errorf("error at %s:%d, want bad.rules:%d: %v", le.File, le.Line, c.line, err)
			}
			if !strings.Contains(err.Error(), c.msg) {
				t.Errorf("error %q does not say %q", err, c.msg)
			}
			if !strings.HasPrefix(err.Error(), fmt.Sprintf("bad.rules:%d: ", c.line)) {
				t.Errorf("error %q does not start with its file:line", err)
			}
		})
	}
}

func TestParseReportsEveryBadLineOnce(t *testing.T) {
	// A bad -A line is reported, its -a lines are not; other bad lines are.
	in := `-A -t 198.51.100.1:80 -s rr -o
-a -t 198.51.100.1:80 -r 192.0.2.1 -m
-a -t 198.51.100.1:80 -r 192.0.2.2 -m
-A -t 198.51.100.2:80 -s rr
-a -t 198.51.100.2:80 -r 192.0.2.1 -w x
`
	_, err := Parse("f", strings.NewReader(in))
	got := strings.Split(fmt.Sprint(err), "\n")
	if len(got) != 2 || !strings.HasPrefix(got[0], "f:1: ") || !strings.HasPrefix(got[1], "f:5: ") {
		t.Errorf("want errors at lines 1 and 5 only, got:\n%v", err)
	}
	var many strings.Builder
	for range 50 {
		many.WriteString("-A -t nowhere:80\n")
	}
	_, err = Parse("f", strings.NewReader(many.String()))
	if lines := strings.Split(err.Error(), "\n"); len(lines) != maxErrors+1 || !strings.Contains(lines[maxErrors], "stopped reading after 20 bad lines") {
		t.Errorf("50 bad lines gave %d error lines, want %d and a stop: %v", len(lines), maxErrors+1, err)
	}
}

func TestInventory(t *testing.T) {
	tab, err := Parse("rules", strings.NewReader(`-A -t 198.51.100.2:80 -s rr
-a -t 198.51.100.2:80 -r 192.0.2.1:8080 -m -w 1
-a -t 198.51.100.2:80 -r 192.0.2.2 -g -w 1
-A -u 198.51.100.1:53 -s rr
-a -u 198.51.100.1:53 -r 192.0.2.1:5353 -m -w 1
-A -t [2001:db8::1]:443 -s rr
-a -t [2001:db8::1]:443 -r 192.0.2.2 -i -w 1
-A -f 3 -s rr
-a -f 3 -r 192.0.2.3 -g -w 1
`))
	if err != nil {
		t.Fatal(err)
	}
	inv := tab.Inventory()
	got := fmt.Sprintf("%v %v %v", inv.VIPs4, inv.VIPs6, inv.Methods)
	if want := "[198.51.100.1 198.51.100.2] [2001:db8::1] [dr nat tun]"; got != want {
		t.Errorf("VIPs and methods %s, want %s", got, want)
	}
	var rs []string
	for _, r := range inv.RealServers {
		rs = append(rs, fmt.Sprintf("%s %v %v %v", r.Addr, r.Listen, r.VIPs, r.Methods))
	}
	want := []string{
		"192.0.2.1 [{tcp 8080} {udp 5353}] [] [nat]",
		"192.0.2.2 [{tcp 80} {tcp 443}] [198.51.100.2 2001:db8::1] [dr tun]",
		"192.0.2.3 [{ 0}] [] [dr]",
	}
	if strings.Join(rs, "\n") != strings.Join(want, "\n") {
		t.Errorf("real servers:\n%s\nwant:\n%s", strings.Join(rs, "\n"), strings.Join(want, "\n"))
	}
}

func TestDiff(t *testing.T) {
	want, _ := Parse("want", strings.NewReader(`-A -t 198.51.100.1:80 -s rr -p 60
-a -t 198.51.100.1:80 -r 192.0.2.1 -m -w 1
-a -t 198.51.100.1:80 -r 192.0.2.2 -m -w 1
-A -u 198.51.100.1:53 -s rr
`))
	got, _ := Parse("got", strings.NewReader(`-A -t 198.51.100.1:80 -s wrr -p 60 -M 255.255.255.0
-a -t 198.51.100.1:80 -r 192.0.2.2 -g -w 2
-a -t 198.51.100.1:80 -r 192.0.2.3 -m -w 1
-A -u 198.51.100.2:53 -s rr
`))
	d := strings.Join(Diff(want, got), "\n")
	for _, s := range []string{
		"line 1: service TCP 198.51.100.1:80: scheduler rr, got wrr",
		"line 1: service TCP 198.51.100.1:80: persistence netmask length 32, got 24",
		"line 2: real server 192.0.2.1:80 of TCP 198.51.100.1:80 is missing",
		"line 3: real server 192.0.2.2:80 of TCP 198.51.100.1:80: weight 1, got 2",
		"line 3: real server 192.0.2.2:80 of TCP 198.51.100.1:80: method nat, got dr",
		"line 1: service TCP 198.51.100.1:80 has an extra real server 192.0.2.3:80",
		"line 4: service UDP 198.51.100.1:53 is missing",
		"an extra service UDP 198.51.100.2:53",
	} {
		if !strings.Contains(d, s) {
			t.Errorf("Diff does not say %q:\n%s", s, d)
		}
	}
	if d := Diff(want, want); d != nil {
		t.Errorf("a table differs from itself: %v", d)
	}
}

func TestDiffServices(t *testing.T) {
	want, err := Parse("want", strings.NewReader(`-A -f 4 -s rr -p 30
-a -f 4 -r 192.0.2.1:0 -i -w 1 -x 9 --tun-type gue --tun-port 6080 --tun-nocsum
-A -u 198.51.100.1:53 -s rr --pe sip -p 60
`))
	if err != nil {
		t.Fatal(err)
	}
	// As a director reports them: no mark address, no PE, thresholds or
	// tunnel type.
	got := []harness.ServiceState{
		{Service: harness.Service{FWMark: 4, Scheduler: "rr", Persistence: 30 * time.Second, PersistenceBits: 32}, Persistent: true,
			Reals: []harness.RealState{{Real: harness.Real{Addr: netip.MustParseAddr("192.0.2.1"), Weight: 1, Method: harness.MethodTUN}}}},
		{Service: harness.Service{Protocol: "udp", Addr: netip.MustParseAddr("198.51.100.1"), Port: 53, Scheduler: "rr",
			Persistence: 60 * time.Second, PersistenceBits: 32}, Persistent: true},
	}
	if d := DiffServices(want, got); d != nil {
		t.Errorf("DiffServices: %v", d)
	}
	got[1].Reals = append(got[1].Reals, harness.RealState{Real: harness.Real{Addr: netip.MustParseAddr("192.0.2.2"), Port: 53, Weight: 1, Method: harness.MethodNAT}})
	if d := DiffServices(want, got); len(d) != 1 || !strings.Contains(d[0], "extra real server 192.0.2.2:53") {
		t.Errorf("DiffServices with an extra real server: %v", d)
	}
}
