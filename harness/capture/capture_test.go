package capture

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// frame builds an Ethernet/IPv4 frame carrying TCP or UDP between the
// given addresses and ports, optionally wrapped in IP-in-IP.
func frame(t *testing.T, proto string, src, dst string, sport, dport uint16, outer ...string) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, SrcIP: net.ParseIP(src), DstIP: net.ParseIP(dst)}
	var l4 []gopacket.SerializableLayer
	switch proto {
	case "tcp":
		ip.Protocol = layers.IPProtocolTCP
		tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), SYN: true}
		_ = tcp.SetNetworkLayerForChecksum(ip)
		l4 = append(l4, tcp)
	case "udp":
		ip.Protocol = layers.IPProtocolUDP
		udp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
		_ = udp.SetNetworkLayerForChecksum(ip)
		l4 = append(l4, udp)
	}
	stack := []gopacket.SerializableLayer{eth}
	if len(outer) == 2 {
		stack = append(stack, &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolIPv4, SrcIP: net.ParseIP(outer[0]), DstIP: net.ParseIP(outer[1])})
	}
	stack = append(stack, ip)
	stack = append(stack, l4...)
	stack = append(stack, gopacket.Payload("hello"))
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, stack...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestParseFilterRefusesWithWhatToDo(t *testing.T) {
	for expr, want := range map[string]string{
		"host":                  "host needs a value",
		"host 192.0.2.300":      "not an IP address",
		"port 0":                "not 1 to 65535",
		"port 70000":            "not 1 to 65535",
		"tcp or udp":            `joined by "and"`,
		"tcp and":               `joined by "and"`,
		"net 192.0.2.0/24":      "unknown term",
		"dst host 192.0.2.1":    "unknown term",
		"tcp and port 80 and x": "unknown term",
	} {
		_, err := ParseFilter(expr)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseFilter(%q) = %v, want an error saying %q", expr, err, want)
		}
	}
}

func TestFilterMatches(t *testing.T) {
	syn := frame(t, "tcp", "203.0.113.10", "198.51.100.1", 40000, 80)
	dns := frame(t, "udp", "192.0.2.5", "192.0.2.6", 5353, 53)
	tun := frame(t, "tcp", "203.0.113.10", "198.51.100.1", 40000, 80, "192.0.2.1", "192.0.2.21")
	cases := []struct {
		expr  string
		frame []byte
		want  bool
	}{
		{"", syn, true},
		{"tcp", syn, true},
		{"udp", syn, false},
		{"tcp and port 80", syn, true},
		{"tcp and port 81", syn, false},
		{"port 81 and port 40000", syn, true},
		{"host 198.51.100.1", syn, true},
		{"host 198.51.100.2", syn, false},
		{"host 198.51.100.2 and host 203.0.113.10", syn, true},
		{"udp and port 53", dns, true},
		{"ip6", dns, false},
		{"ipip", syn, false},
		{"ipip", tun, true},
		{"host 192.0.2.21 and port 80", tun, true},
		{"host 198.51.100.1 and tcp", tun, true},
	}
	for _, c := range cases {
		f, err := ParseFilter(c.expr)
		if err != nil {
			t.Fatalf("ParseFilter(%q): %v", c.expr, err)
		}
		if got := f.Match(c.frame); got != c.want {
			t.Errorf("filter %q matched=%v, want %v", c.expr, got, c.want)
		}
	}
}

var twoLinks = []Interface{{Node: "director", Link: "front", Filter: "tcp"}, {Node: "rs1", Link: "back"}}

// readBack reads a pcapng file and returns its interfaces' names and its
// packets.
func readBack(t *testing.T, data []byte) ([]string, []gopacket.CaptureInfo, [][]byte) {
	t.Helper()
	r, err := pcapgo.NewNgReader(bytes.NewReader(data), pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatalf("read pcapng: %v", err)
	}
	var infos []gopacket.CaptureInfo
	var frames [][]byte
	for {
		d, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		infos, frames = append(infos, ci), append(frames, d)
	}
	var names []string
	for i := range r.NInterfaces() {
		intf, err := r.Interface(i)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, intf.Name)
	}
	return names, infos, frames
}

func TestWriterNamesLinksAndKeepsTimestamps(t *testing.T) {
	var out bytes.Buffer
	w, err := NewWriter(&out, twoLinks)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)
	f := frame(t, "tcp", "203.0.113.10", "198.51.100.1", 40000, 80)
	if err := w.Packet(Packet{Link: 1, Timestamp: at, Length: len(f) + 10, Data: f}); err != nil {
		t.Fatal(err)
	}
	if err := w.Packet(Packet{Link: 2, Timestamp: at, Data: f}); err == nil {
		t.Error("a packet of a link the file lacks was written")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	names, infos, frames := readBack(t, out.Bytes())
	if strings.Join(names, ",") != "director:front,rs1:back" {
		t.Errorf("interfaces %v, want director:front,rs1:back", names)
	}
	if len(infos) != 1 || infos[0].InterfaceIndex != 1 || !infos[0].Timestamp.Equal(at) || infos[0].Length != len(f)+10 || !bytes.Equal(frames[0], f) {
		t.Errorf("read back %+v, want one packet of link 1 at %v, length %d", infos, at, len(f)+10)
	}
	if err := w.Packet(Packet{Link: 0, Timestamp: at, Data: f}); err == nil {
		t.Error("a packet was written after Close")
	}
}

func TestRingKeepsTheNewestWithinItsBounds(t *testing.T) {
	if _, err := NewRing(0, 100); err == nil {
		t.Error("a ring of 0 packets was made")
	}
	r, err := NewRing(3, 1000)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Unix(1700000000, 0)
	for i := range 5 {
		_ = r.Packet(Packet{Link: i % 2, Timestamp: start.Add(time.Duration(i) * time.Second), Data: bytes.Repeat([]byte{byte(i)}, 100)})
	}
	if held, dropped := r.Len(); held != 3 || dropped != 2 {
		t.Errorf("held %d dropped %d, want 3 and 2", held, dropped)
	}
	// A big packet pushes out as many old ones as its bytes need.
	_ = r.Packet(Packet{Timestamp: start.Add(5 * time.Second), Data: bytes.Repeat([]byte{5}, 850)})
	if held, dropped := r.Len(); held != 2 || dropped != 4 {
		t.Errorf("held %d dropped %d, want 2 and 4", held, dropped)
	}
	var out bytes.Buffer
	if err := r.WriteTo(&out, twoLinks); err != nil {
		t.Fatal(err)
	}
	_, infos, frames := readBack(t, out.Bytes())
	if len(frames) != 2 || frames[0][0] != 4 || frames[1][0] != 5 || !infos[0].Timestamp.Before(infos[1].Timestamp) {
		t.Errorf("ring wrote %d packets, want the last two, oldest first", len(frames))
	}
	// One packet larger than the whole bound is kept truncated.
	_ = r.Packet(Packet{Timestamp: start, Data: make([]byte, 5000)})
	if held, _ := r.Len(); held != 1 {
		t.Errorf("held %d after an oversized packet, want 1", held)
	}
}
