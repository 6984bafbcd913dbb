//go:build linux

package ipvsadm

import (
	"context"
	"encoding/hex"
	"net/netip"
	"strings"
	"testing"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// attrsOf is a nested attribute's children, type to bytes in hex.
func attrsOf(t *testing.T, a *nl.RtAttr) map[uint16]string {
	t.Helper()
	b := a.Serialize()
	children, err := nl.ParseRouteAttr(b[unix.SizeofRtAttr:])
	if err != nil {
		t.Fatal(err)
	}
	out := map[uint16]string{}
	for _, c := range children {
		out[c.Attr.Type] = hex.EncodeToString(c.Value)
	}
	return out
}

func native32(v uint32) string { return hex.EncodeToString(nl.Uint32Attr(v)) }
func native16(v uint16) string { return hex.EncodeToString(nl.Uint16Attr(v)) }

func TestRestoreEncoding(t *testing.T) {
	tab, err := Parse("rules", strings.NewReader(`-A -u 198.51.100.1:53 -s sh -p 60 -M 255.255.255.0 -o -b sh-port
-a -u 198.51.100.1:53 -r [2001:db8::7]:53 -i -w 3 -x 10 -y 2 --tun-type gue --tun-port 6080 --tun-remcsum
-A -f 9 -6 -s rr -p 20 -M 64 --pe sip
-a -f 9 -6 -r [2001:db8::8]:0 -m -w 1
`))
	if err != nil {
		t.Fatal(err)
	}
	udp, fwm := tab.Services[0], tab.Services[1]
	got := attrsOf(t, serviceAttr(udp, true))
	want := map[uint16]string{
		svcAttrAF:        native16(unix.AF_INET),
		svcAttrProtocol:  native16(unix.IPPROTO_UDP),
		svcAttrAddr:      "c6336401", // 198.51.100.1
		svcAttrPort:      "0035",     // 53, network order
		svcAttrSchedName: hex.EncodeToString([]byte("sh\x00")),
		svcAttrFlags:     native32(0x1|0x4|FlagSched2) + "ffffffff",
		svcAttrTimeout:   native32(60),
		svcAttrNetmask:   "ffffff00", // network order
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("UDP service attribute %d = %s, want %s", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("UDP service has attributes %v, want only %v", got, want)
	}
	if id := attrsOf(t, serviceAttr(udp, false)); len(id) != 4 || id[svcAttrSchedName] != "" {
		t.Errorf("the service's identity is %v: want family, protocol, address and port only", id)
	}

	got = attrsOf(t, serviceAttr(fwm, true))
	for k, v := range map[uint16]string{
		svcAttrAF:      native16(unix.AF_INET6),
		svcAttrFWMark:  native32(9),
		svcAttrNetmask: native32(64), // a prefix length, host order
		svcAttrPEName:  hex.EncodeToString([]byte("sip\x00")),
	} {
		if got[k] != v {
			t.Errorf("firewall-mark service attribute %d = %s, want %s", k, got[k], v)
		}
	}
	if _, ok := got[svcAttrAddr]; ok {
		t.Error("a firewall-mark service sent an address")
	}

	got = attrsOf(t, realAttr(udp.Reals[0]))
	for k, v := range map[uint16]string{
		destAttrAddr:      "20010db8000000000000000000000007",
		destAttrPort:      "0035",
		destAttrAF:        native16(unix.AF_INET6),
		destAttrFwdMethod: native32(2),
		destAttrWeight:    native32(3),
		destAttrUThresh:   native32(10),
		destAttrLThresh:   native32(2),
		destAttrTunType:   "01",
		destAttrTunPort:   "17c0", // 6080, network order
		destAttrTunFlags:  native16(2),
	} {
		if got[k] != v {
			t.Errorf("tunnelled real server attribute %d = %s, want %s", k, got[k], v)
		}
	}
	got = attrsOf(t, realAttr(fwm.Reals[0]))
	if got[destAttrFwdMethod] != native32(0) || got[destAttrTunType] != "" {
		t.Errorf("NAT real server: %v", got)
	}
}

func TestTimeoutAttrs(t *testing.T) {
	tab, err := Parse("rules", strings.NewReader("--set 900 0 300\n"))
	if err != nil {
		t.Fatal(err)
	}
	attrs := timeoutAttrs(tab.Timeouts)
	if len(attrs) != 2 {
		t.Fatalf("%d timeout attributes, want TCP and UDP only (0 leaves TCP FIN as it is)", len(attrs))
	}
	for i, want := range []struct {
		typ  uint16
		secs uint32
	}{{attrTimeoutTCP, 900}, {attrTimeoutUDP, 300}} {
		a := attrs[i].(*nl.RtAttr)
		if a.Type != want.typ || hex.EncodeToString(a.Data) != native32(want.secs) {
			t.Errorf("timeout %d: type %d data %x, want type %d, %d s", i, a.Type, a.Data, want.typ, want.secs)
		}
	}
}

func TestRestoreRefusesWhatTheKernelWouldMisread(t *testing.T) {
	for _, c := range []struct {
		rules string
		edit  func(*Table)
		msg   string
	}{
		{"-A -t 198.51.100.1:80 -s rr", func(t *Table) { t.Services[0].Protocol = "" }, "rules:1: service"},
		{"-A -t 198.51.100.1:80 -s rr", func(t *Table) { t.Services[0].Scheduler = "" }, "rules:1: service TCP 198.51.100.1:80 has no scheduler"},
		{"-A -t 198.51.100.1:80\n-a -t 198.51.100.1:80 -r 192.0.2.1", func(t *Table) { t.Services[0].Reals[0].Method = "fullnat" }, `rules:2: real server 192.0.2.1 of TCP 198.51.100.1:80: forwarding method "fullnat"`},
		{"-A -t 198.51.100.1:80\n-a -t 198.51.100.1:80 -r 192.0.2.1 -i", func(t *Table) { t.Services[0].Reals[0].Tunnel.Type = "vxlan" }, `tunnel type "vxlan"`},
		{"-A -t 198.51.100.1:80\n-a -t 198.51.100.1:80 -r 192.0.2.1 -m", func(t *Table) {
			t.Services[0].Reals[0].Addr = netip.MustParseAddr("2001:db8::1")
		}, "rules:2: real server 2001:db8::1 of TCP 198.51.100.1:80: a real server has an address of the service's family"},
	} {
		tab, err := Parse("rules", strings.NewReader(c.rules))
		if err != nil {
			t.Fatal(err)
		}
		c.edit(tab)
		// No director: the check comes before any socket.
		if err := Restore(context.Background(), nil, tab, RestoreOptions{}); err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("Restore: %v, want %q", err, c.msg)
		}
	}
}
