//go:build linux

package topology

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/lvslab/lvslab/fixtures"
)

// The YAML form keeps addresses as strings so that a bad one is reported
// with the node it belongs to, not as a bare parse error.
type fileSpec struct {
	Name     string        `yaml:"name"`
	Mode     string        `yaml:"mode"`
	VIP      fileVIP       `yaml:"vip"`
	Segments []fileSegment `yaml:"segments"`
	Nodes    []fileNode    `yaml:"nodes"`
	Switch   fileSwitch    `yaml:"switch"`
	Floating string        `yaml:"floating"`
}

type fileSwitch struct {
	Learning   bool   `yaml:"learning"`
	AgeingTime string `yaml:"ageing_time"`
}

type fileVIP struct {
	IPv4 string `yaml:"ipv4"`
	IPv6 string `yaml:"ipv6"`
	Port int    `yaml:"port"`
}

type fileSegment struct {
	Name string `yaml:"name"`
	IPv4 string `yaml:"ipv4"`
	IPv6 string `yaml:"ipv6"`
}

type fileNode struct {
	Name    string            `yaml:"name"`
	Role    string            `yaml:"role"`
	Links   []fileLink        `yaml:"links"`
	Sysctls map[string]string `yaml:"sysctls"`
	// CPUs is a cpulist ("0-2,5") or a list of CPU numbers.
	CPUs addrList `yaml:"cpus"`
}

type fileLink struct {
	Segment string      `yaml:"segment"`
	IPv4    addrList    `yaml:"ipv4"`
	IPv6    addrList    `yaml:"ipv6"`
	Sources int         `yaml:"sources"`
	Impair  *fileImpair `yaml:"impair"`
}

// fileImpair is a link's impairment as tc writes it: durations ("20ms"),
// percentages ("1%") and a rate ("10mbit").
type fileImpair struct {
	Delay     string `yaml:"delay"`
	Jitter    string `yaml:"jitter"`
	Loss      string `yaml:"loss"`
	Duplicate string `yaml:"duplicate"`
	Reorder   string `yaml:"reorder"`
	Corrupt   string `yaml:"corrupt"`
	Rate      string `yaml:"rate"`
}

// impairment reads a link's impairment, every bad value an error naming
// where it is.
func (f *fileImpair) impairment(where string) (Impairment, []error) {
	var im Impairment
	var errs []error
	durations := []struct {
		name string
		s    string
		v    *time.Duration
	}{{"delay", f.Delay, &im.Delay}, {"jitter", f.Jitter, &im.Jitter}}
	for _, d := range durations {
		if d.s == "" {
			continue
		}
		v, err := time.ParseDuration(d.s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.%s %q: write a duration (20ms)", where, d.name, d.s))
		}
		*d.v = v
	}
	percents := []struct {
		name string
		s    string
		v    *float64
	}{{"loss", f.Loss, &im.Loss}, {"duplicate", f.Duplicate, &im.Duplicate}, {"reorder", f.Reorder, &im.Reorder}, {"corrupt", f.Corrupt, &im.Corrupt}}
	for _, p := range percents {
		if p.s == "" {
			continue
		}
		v, err := ParsePercent(p.s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.%s: %w", where, p.name, err))
		}
		*p.v = v
	}
	if f.Rate != "" {
		v, err := ParseRate(f.Rate)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.%w", where, err))
		}
		im.Rate = v
	}
	if len(errs) == 0 {
		if err := im.Check(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
		}
	}
	return im, errs
}

// addrList takes one scalar or a list of them (addresses, CPUs).
type addrList []string

func (l *addrList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*l = addrList{n.Value}
		return nil
	}
	var s []string
	if err := n.Decode(&s); err != nil {
		return err
	}
	*l = s
	return nil
}

// LoadFile reads a topology file. It does not validate: call Plan.
func LoadFile(path string) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read topology file: %w", err)
	}
	s, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("topology file %s: %w", path, err)
	}
	return s, nil
}

// Parse reads a topology from YAML: one document, no unknown field (a
// typo never silently falls back to a default), at most MaxNodes nodes.
func Parse(data []byte) (*Spec, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f fileSpec
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the file is empty: it needs name, vip, segments and nodes")
		}
		return nil, fmt.Errorf("malformed YAML: %w", err)
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		return nil, errors.New("the file holds more than one YAML document (a --- line): one file is one lab")
	}
	if len(f.Nodes) > MaxNodes || len(f.Segments) > MaxSegments {
		return nil, fmt.Errorf("%d nodes and %d segments: a lab has at most %d nodes and %d segments; use fewer real servers",
			len(f.Nodes), len(f.Segments), MaxNodes, MaxSegments)
	}
	var errs []error
	addr := func(what, s string) netip.Addr {
		if s == "" {
			return netip.Addr{}
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not an IP address", what, s))
		}
		return a
	}
	prefix := func(what, s string) netip.Prefix {
		if s == "" {
			return netip.Prefix{}
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not a prefix (e.g. 192.0.2.0/24)", what, s))
		}
		return p
	}
	s := &Spec{Name: f.Name, Mode: Mode(f.Mode)}
	s.VIP.IPv4 = addr("vip.ipv4", f.VIP.IPv4)
	s.VIP.IPv6 = addr("vip.ipv6", f.VIP.IPv6)
	s.Floating = addr("floating", f.Floating)
	if f.VIP.Port < 0 || f.VIP.Port > 65535 {
		errs = append(errs, fmt.Errorf("vip.port %d is not a port number (1-65535)", f.VIP.Port))
	} else {
		s.VIP.Port = uint16(f.VIP.Port)
	}
	for i, seg := range f.Segments {
		where := fmt.Sprintf("segments[%d]", i)
		s.Segments = append(s.Segments, SegmentSpec{
			Name: seg.Name,
			IPv4: prefix(where+".ipv4", seg.IPv4),
			IPv6: prefix(where+".ipv6", seg.IPv6),
		})
	}
	s.Switch.Learning = f.Switch.Learning
	if f.Switch.AgeingTime != "" {
		d, err := time.ParseDuration(f.Switch.AgeingTime)
		if err != nil {
			errs = append(errs, fmt.Errorf("switch.ageing_time: %q is not a duration (e.g. 300s)", f.Switch.AgeingTime))
		}
		s.Switch.AgeingTime = d
	}
	for i, n := range f.Nodes {
		node := NodeSpec{Name: n.Name, Role: Role(n.Role), Sysctls: n.Sysctls}
		if len(n.CPUs) > 0 {
			cpus, err := ParseCPUList(strings.Join(n.CPUs, ","))
			if err != nil {
				errs = append(errs, fmt.Errorf("nodes[%d] (%s).cpus: %w", i, n.Name, err))
			}
			node.CPUs = cpus
		}
		for j, l := range n.Links {
			where := fmt.Sprintf("nodes[%d] (%s).links[%d]", i, n.Name, j)
			link := LinkSpec{Segment: l.Segment, Sources: l.Sources}
			if l.Sources < 0 || l.Sources > 64 {
				errs = append(errs, fmt.Errorf("%s: sources %d: use 1 to 64", where, l.Sources))
				link.Sources = 0
			}
			if l.Impair != nil {
				im, bad := l.Impair.impairment(where + ".impair")
				errs = append(errs, bad...)
				link.Impair = im
			}
			for _, a := range l.IPv4 {
				if ip := addr(where+".ipv4", a); ip.IsValid() {
					link.IPv4 = append(link.IPv4, ip)
				}
			}
			for _, a := range l.IPv6 {
				if ip := addr(where+".ipv6", a); ip.IsValid() {
					link.IPv6 = append(link.IPv6, ip)
				}
			}
			node.Links = append(node.Links, link)
		}
		s.Nodes = append(s.Nodes, node)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// Shipped is a topology lvslab ships, by name: paper, small and paper-ha
// are built by Paper, Small and PaperHA (their files in
// fixtures/topologies say the same); any other is read from its shipped
// file. It does not validate: call Plan.
func Shipped(name string) (*Spec, error) {
	switch name {
	case "paper":
		return Paper(), nil
	case "small":
		return Small(), nil
	case "paper-ha":
		return PaperHA(), nil
	}
	data, err := fixtures.Topology(name)
	if err != nil {
		return nil, err
	}
	s, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("shipped topology %s: %w", name, err)
	}
	return s, nil
}
