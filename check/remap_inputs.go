//go:build linux

package check

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/lvslab/lvslab/harness/ipvsadm"
	"github.com/lvslab/lvslab/harness/keepalived/conf"
)

// maxRulesBytes bounds a rules file read whole for --remap: a Kubernetes
// cluster's 25,000 rules take under 2 MB.
const maxRulesBytes = 64 << 20

// remap moves every input onto one mapping of all their subnets: the
// keepalived files are read again through it (and the copies keepalived
// runs are made from those), the rules file is parsed from its remapped
// text, the captures and the serve file's servers are moved in place.
// Line numbers never change: an address is replaced where it is written.
func (b *Bundle) remap() error {
	p := newRemapPlanner()
	for _, d := range b.Directors {
		for _, name := range d.Conf.Files {
			if strings.HasPrefix(name, "/") && d.root == "" {
				continue // not read: the reader's problem, keepalived -t's error
			}
			data, err := d.readSource(name)
			if err != nil {
				return err
			}
			p.text(displayName(d, name), string(data))
		}
		if d.Machine != nil {
			p.machine(d.Machine)
		}
	}
	var rules string
	if b.Rules != nil {
		data, err := readBounded(b.Inputs.Rules, maxRulesBytes, "is it an ipvsadm -S -n file?")
		if err != nil {
			return err
		}
		rules = string(data)
		p.text(b.Inputs.Rules, rules)
	}
	if b.Serve != nil {
		for _, e := range b.Serve.Entries {
			p.addr(e.addr, e.pos.String())
		}
	}
	m, err := p.plan()
	if err != nil {
		return err
	}
	b.Remap = m
	for _, d := range b.Directors {
		d.remap = m
		if d.Conf, err = d.readConf(); err != nil {
			return fmt.Errorf("%s remapped: %w", d.Path, err)
		}
		m.machine(d.Machine)
	}
	if b.Rules != nil {
		if b.Rules, err = ipvsadm.Parse(b.Inputs.Rules, strings.NewReader(m.Text(rules))); err != nil {
			return fmt.Errorf("%s remapped: %s", b.Inputs.Rules, m.OriginalText(err.Error()))
		}
	}
	if b.Serve != nil {
		for i := range b.Serve.Entries {
			e := &b.Serve.Entries[i]
			e.addr, e.Server = m.Addr(e.addr), m.Text(e.Server)
		}
	}
	return nil
}

// machine records a capture's subnets: its interfaces' with their
// lengths, its routes', and every address its firewall and IPVS rules
// name.
func (p *remapPlanner) machine(m *Machine) {
	for _, it := range m.Interfaces {
		for _, a := range it.Addrs {
			p.prefix(a, fmt.Sprintf("capture %s: %s %s", m.Name, it.Name, a))
		}
	}
	for _, r := range m.Routes {
		where := fmt.Sprintf("capture %s: route %s", m.Name, routeDst(r.Dst))
		p.prefix(r.Dst, where)
		p.addr(r.Via, where)
	}
	for name, text := range map[string]string{"nft.txt": m.NFT, "iptables-mangle.txt": m.IPTablesMangle, "ipvsadm.txt": m.IPVS} {
		p.text(filepath.Join(m.Dir, name), text)
	}
}

// machine moves a capture onto the mapping.
func (m *Remap) machine(mc *Machine) {
	if mc == nil {
		return
	}
	for i := range mc.Interfaces {
		for j, a := range mc.Interfaces[i].Addrs {
			mc.Interfaces[i].Addrs[j] = m.Prefix(a)
		}
	}
	for i := range mc.Routes {
		r := &mc.Routes[i]
		r.Dst, r.Via = m.Prefix(r.Dst), m.Addr(r.Via)
	}
	for _, text := range []*string{&mc.NFT, &mc.IPTablesMangle, &mc.IPVS} {
		*text = m.Text(*text)
	}
}

// readConf reads a director's file as keepalived would with its config
// id, through the mapping when remapped.
func (d *Director) readConf() (*conf.File, error) {
	opts := conf.Options{ConfigID: d.ConfigID}
	if d.root != "" {
		opts.Root = d.rootSource()
	}
	if d.remap == nil {
		return conf.Read(d.Path, opts)
	}
	// A tree of the reader's own has no directory for ${_PWD}: it is the
	// lab's folder when keepalived runs the copy anyway.
	return conf.ReadFS(d.source(), filepath.Base(d.Path), opts)
}

// source is the folder of a director's main file, as the reader reads
// it (names relative to it); rootSource is --root, for absolute
// includes.
func (d *Director) source() fs.FS { return remapFS{base: os.DirFS(filepath.Dir(d.Path)), m: d.remap} }

func (d *Director) rootSource() fs.FS { return remapFS{base: os.DirFS(d.root), m: d.remap} }

// readSource reads one file of a director's configuration by the name
// the reader gave it.
func (d *Director) readSource(name string) ([]byte, error) {
	src := d.source()
	if strings.HasPrefix(name, "/") {
		if d.root == "" {
			return nil, fmt.Errorf("%s: an absolute include read without --root", name)
		}
		src, name = d.rootSource(), strings.TrimPrefix(name, "/")
	}
	data, err := fs.ReadFile(src, name)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", displayName(d, name), err)
	}
	return data, nil
}

// remapFS is a folder whose files read remapped: what keepalived reads
// in the lab, made without writing a copy the operator could find
// lying around. Folders and listings are the folder's own.
type remapFS struct {
	base fs.FS
	m    *Remap
}

func (r remapFS) Open(name string) (fs.File, error) {
	f, err := r.base.Open(name)
	if err != nil || r.m == nil {
		return f, err
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() || st.Size() > conf.MaxExpandedBytes {
		// A file the reader refuses by its size is refused unread.
		return f, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, conf.MaxExpandedBytes+1))
	if err != nil {
		return nil, err
	}
	out := []byte(r.m.Text(string(data)))
	return &remappedFile{Reader: bytes.NewReader(out), info: sizedInfo{FileInfo: st, size: int64(len(out))}}, nil
}

type remappedFile struct {
	*bytes.Reader
	info fs.FileInfo
}

func (f *remappedFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *remappedFile) Close() error               { return nil }

type sizedInfo struct {
	fs.FileInfo
	size int64
}

func (s sizedInfo) Size() int64 { return s.size }

// readBounded reads a whole file of at most limit bytes; advice says
// what to do with a larger one.
func readBounded(path string, limit int64, advice string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes: %s", path, limit, advice)
	}
	return data, nil
}
