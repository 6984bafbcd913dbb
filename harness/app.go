//go:build linux

package harness

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/lvslab/lvslab/topology"
)

// An App stands in for an operator's own application on a real-server
// node: it listens on the ports their services send to, answers what
// they said it answers (or 200 to every GET when they said nothing), and
// names the real server that served a request in topology.ServerHeader.
// The lab's own RealServer is the paper's web server; an App answers per
// port and path, refuses, or serves TLS, as an operator's would.
type App struct {
	Node *topology.Node
	// Name is what ServerHeader says: the real server's address ("" for
	// the address each connection came to, on a node that holds several).
	Name string

	mu        sync.Mutex
	listeners map[AppPort]*appListener
	answer    AppAnswer
}

// AppPort is one port an App listens on.
type AppPort struct {
	Protocol string // "tcp" or "udp"
	Port     uint16
	TLS      bool
}

func (p AppPort) String() string { return p.Protocol + "/" + strconv.Itoa(int(p.Port)) }

// AppAnswer says what the application answers: the status and body of a
// GET of path that reached local:port.
type AppAnswer func(local netip.Addr, port uint16, path string) (status int, body string)

// AnswerOK is the application nobody described: 200 to every GET.
func AnswerOK(netip.Addr, uint16, string) (int, string) { return http.StatusOK, "ok\n" }

type appListener struct {
	http *http.Server
	udp  net.PacketConn
	done chan struct{}
}

// NewApp makes an App on a node; Open starts each port.
func NewApp(n *topology.Node, name string, answer AppAnswer) *App {
	if answer == nil {
		answer = AnswerOK
	}
	return &App{Node: n, Name: name, listeners: map[AppPort]*appListener{}, answer: answer}
}

// Open starts listening on a port, on every address of the node (a VIP
// held on lo in DR and TUN included). Opening an open port does nothing.
func (a *App) Open(p AppPort) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.listeners[p] != nil {
		return nil
	}
	addr := net.JoinHostPort("", strconv.Itoa(int(p.Port)))
	l := &appListener{done: make(chan struct{})}
	switch p.Protocol {
	case "tcp":
		ln, err := a.Node.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("%s: listen on %s: %w", a.Name, p, err)
		}
		if p.TLS {
			cert, err := selfSigned(a.Name)
			if err != nil {
				ln.Close()
				return err
			}
			ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}})
		}
		l.http = &http.Server{Handler: a.handler(p.Port), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
		go func() {
			defer close(l.done)
			l.http.Serve(ln)
		}()
	case "udp":
		pc, err := a.Node.ListenPacket("udp", addr)
		if err != nil {
			return fmt.Errorf("%s: listen on %s: %w", a.Name, p, err)
		}
		l.udp = pc
		go a.echo(pc, l.done)
	default:
		return fmt.Errorf("%s: protocol %q: an App serves tcp or udp", a.Name, p.Protocol)
	}
	a.listeners[p] = l
	return nil
}

// Close stops a port: connections to it are refused from then on.
func (a *App) Close(p AppPort) error {
	a.mu.Lock()
	l := a.listeners[p]
	delete(a.listeners, p)
	a.mu.Unlock()
	if l == nil {
		return nil
	}
	var err error
	if l.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err = l.http.Shutdown(ctx); errors.Is(err, context.DeadlineExceeded) {
			err = l.http.Close()
		}
	} else {
		err = l.udp.Close()
	}
	<-l.done
	return err
}

// Stop closes every port.
func (a *App) Stop() error {
	a.mu.Lock()
	var ports []AppPort
	for p := range a.listeners {
		ports = append(ports, p)
	}
	a.mu.Unlock()
	var errs []error
	for _, p := range ports {
		errs = append(errs, a.Close(p))
	}
	return errors.Join(errs...)
}

// SetAnswer changes what the application answers from now on (a health
// path turned to 500, and back).
func (a *App) SetAnswer(answer AppAnswer) {
	a.mu.Lock()
	a.answer = answer
	a.mu.Unlock()
}

func (a *App) handler(port uint16) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		local := netip.Addr{}
		if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
			if ap, err := netip.ParseAddrPort(la.String()); err == nil {
				local = ap.Addr().Unmap()
			}
		}
		a.mu.Lock()
		answer := a.answer
		a.mu.Unlock()
		status, body := answer(local, port, r.URL.Path)
		name := a.Name
		if name == "" {
			name = local.String()
		}
		w.Header().Set(topology.ServerHeader, name)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(status)
		if r.Method != http.MethodHead {
			w.Write([]byte(body))
		}
	})
}

// echo answers each datagram with the App's name and the datagram, from
// the address it came to: a node holding several real-server addresses
// (or a VIP on lo) must answer from the one the director sent to, or NAT
// cannot match the reply, and the name says which.
func (a *App) echo(pc net.PacketConn, done chan struct{}) {
	defer close(done)
	dst := newDstConn(pc)
	buf := make([]byte, 2048)
	for {
		n, to, from, err := dst.readFrom(buf)
		if err != nil {
			return
		}
		name := a.Name
		if name == "" {
			name = to.String()
		}
		dst.writeTo(append([]byte(name+" "), buf[:n]...), to, from)
	}
}

// dstConn reads each datagram's destination address (IP_PKTINFO, or
// IPV6_PKTINFO, which reports an IPv4 datagram on a dual-stack socket
// too) and sends the reply from it.
type dstConn struct {
	r4 *ipv4.PacketConn // reads, on an IPv4 socket
	r6 *ipv6.PacketConn // reads, on a dual-stack socket; writes an IPv6 source
	// w4 writes an IPv4 source as IP_PKTINFO, which a dual-stack socket
	// takes for an IPv4 peer as well: x/net/ipv6 leaves out a pktinfo
	// whose source is IPv4-mapped.
	w4 *ipv4.PacketConn
}

func newDstConn(pc net.PacketConn) *dstConn {
	c := &dstConn{w4: ipv4.NewPacketConn(pc)}
	if ua, ok := pc.LocalAddr().(*net.UDPAddr); ok && ua.IP.To4() != nil {
		c.r4 = c.w4
		c.r4.SetControlMessage(ipv4.FlagDst, true)
		return c
	}
	c.r6 = ipv6.NewPacketConn(pc)
	c.r6.SetControlMessage(ipv6.FlagDst, true)
	return c
}

func (c *dstConn) readFrom(b []byte) (int, netip.Addr, net.Addr, error) {
	var to net.IP
	var n int
	var from net.Addr
	var err error
	if c.r4 != nil {
		var cm *ipv4.ControlMessage
		n, cm, from, err = c.r4.ReadFrom(b)
		if cm != nil {
			to = cm.Dst
		}
	} else {
		var cm *ipv6.ControlMessage
		n, cm, from, err = c.r6.ReadFrom(b)
		if cm != nil {
			to = cm.Dst
		}
	}
	a, _ := netip.AddrFromSlice(to)
	return n, a.Unmap(), from, err
}

func (c *dstConn) writeTo(b []byte, src netip.Addr, to net.Addr) {
	switch {
	case !src.IsValid():
		c.w4.WriteTo(b, nil, to)
	case src.Is4():
		c.w4.WriteTo(b, &ipv4.ControlMessage{Src: src.AsSlice()}, to)
	default:
		c.r6.WriteTo(b, &ipv6.ControlMessage{Src: src.AsSlice()}, to)
	}
}

// selfSigned is a throw-away certificate for an App serving TLS: an
// SSL_GET checker does not verify it.
func selfSigned(name string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certificate for %s: %w", name, err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
