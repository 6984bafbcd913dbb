//go:build linux

package ipvsadm

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/lvslab/lvslab/harness"
)

// SyntheticConfig shapes a table like kube-proxy's in IPVS mode: each
// Kubernetes service a ClusterIP in 198.18.0.0/16 with one to two ports,
// each port a virtual service, its endpoints pods in 198.19.0.0/16
// reached by NAT with weight 1, scheduler rr.
type SyntheticConfig struct {
	// Seed makes the table: one seed, one table.
	Seed uint64
	// Services is the number of virtual services (service ports).
	Services int
	// Reals is the number of real servers over all services, at least
	// one per service.
	Reals int
	// Pods is the number of pod addresses the real servers share.
	Pods int
	// Affinity is the share of Kubernetes services with sessionAffinity
	// ClientIP: persistent for 10800 s, Kubernetes' default.
	Affinity float64
}

// KubernetesScale is a large cluster's table: 5,000 virtual services and
// 20,000 real servers on 2,000 pod addresses, a tenth of the services
// with session affinity.
var KubernetesScale = SyntheticConfig{Seed: 1, Services: 5000, Reals: 20000, Pods: 2000, Affinity: 0.1}

// RegisterFlags lets a command set the table's size and seed on fs, c
// holding the defaults.
func (c *SyntheticConfig) RegisterFlags(fs *flag.FlagSet) {
	fs.IntVar(&c.Services, "services", c.Services, "virtual services")
	fs.IntVar(&c.Reals, "reals", c.Reals, "real servers over all services")
	fs.IntVar(&c.Pods, "pods", c.Pods, "pod addresses")
	fs.Uint64Var(&c.Seed, "seed", c.Seed, "the table's seed")
	fs.Float64Var(&c.Affinity, "affinity", c.Affinity, "share of services with session affinity")
}

// The benchmarking prefixes (RFC 2544) the table lives in.
var (
	ClusterIPs = netip.MustParsePrefix("198.18.0.0/16")
	PodIPs     = netip.MustParsePrefix("198.19.0.0/16")
)

// AffinityTimeout is Kubernetes' default sessionAffinity timeout.
const AffinityTimeout = 10800 * time.Second

type servicePort struct {
	protocol      string
	port, podPort uint16
}

// profiles are the kinds of Kubernetes service, their ports (service
// port, the pods' target port) and how common each kind is (percent).
var profiles = []struct {
	percent int
	ports   []servicePort
}{
	{35, []servicePort{{protocol: "tcp", port: 80, podPort: 8080}, {protocol: "tcp", port: 443, podPort: 8443}}},
	{30, []servicePort{{protocol: "tcp", port: 8080, podPort: 8080}}},
	{15, []servicePort{{protocol: "tcp", port: 9090, podPort: 9090}}},
	{5, []servicePort{{protocol: "udp", port: 53, podPort: 5353}, {protocol: "tcp", port: 53, podPort: 5353}}},
	{15, []servicePort{{protocol: "tcp", port: 9100, podPort: 9100}}},
}

// Synthetic makes the table c describes, the same for the same c. Its
// lines are those Write gives it.
func Synthetic(c SyntheticConfig) (*Table, error) {
	maxHosts := 1<<(32-PodIPs.Bits()) - 2
	switch {
	case c.Services < 1 || c.Pods < 1:
		return nil, errors.New("synthetic table: give at least one service and one pod")
	case c.Reals < c.Services:
		return nil, fmt.Errorf("synthetic table: %d real servers for %d services: every service needs one", c.Reals, c.Services)
	case c.Pods > maxHosts:
		return nil, fmt.Errorf("synthetic table: %d pods do not fit in %s (%d addresses)", c.Pods, PodIPs, maxHosts)
	case c.Affinity < 0 || c.Affinity > 1:
		return nil, fmt.Errorf("synthetic table: affinity %g is not a share from 0 to 1", c.Affinity)
	}
	rng := rand.New(rand.NewPCG(c.Seed, c.Seed^0x6c76736c6162))
	type kubeService struct {
		vip       netip.Addr
		ports     []servicePort
		endpoints int
		affinity  bool
	}
	// Kubernetes services, one endpoint each, until their ports make
	// c.Services virtual services.
	var kube []*kubeService
	vip := ClusterIPs.Addr().Next()
	for n := 0; n < c.Services; {
		if !ClusterIPs.Contains(vip) {
			return nil, fmt.Errorf("synthetic table: %d services do not fit in %s", c.Services, ClusterIPs)
		}
		ports := pickProfile(rng)
		if len(ports) > c.Services-n {
			ports = ports[:c.Services-n]
		}
		kube = append(kube, &kubeService{vip: vip, ports: ports, endpoints: 1, affinity: rng.Float64() < c.Affinity})
		n += len(ports)
		vip = vip.Next()
	}
	// The other real servers: one more endpoint for a random service at a
	// time, as many real servers as it has ports.
	for left := c.Reals - c.Services; left > 0; {
		k := kube[rng.IntN(len(kube))]
		if len(k.ports) > left || k.endpoints == c.Pods {
			k = nil
			for _, x := range kube {
				if len(x.ports) <= left && x.endpoints < c.Pods {
					k = x
					break
				}
			}
			if k == nil {
				return nil, fmt.Errorf("synthetic table: %d real servers do not fit %d services on %d pods", c.Reals, c.Services, c.Pods)
			}
		}
		k.endpoints++
		left -= len(k.ports)
	}
	// Endpoints are pods drawn in turn from shuffled rounds of all pods,
	// so that every pod serves (when there are enough real servers) and
	// no service has a pod twice.
	pods := newPodDraw(rng, c.Pods)
	t := NewTable("synthetic")
	line := 0
	for _, k := range kube {
		endpoints := pods.take(k.endpoints)
		for _, sp := range k.ports {
			line++
			s := &Service{Service: harness.Service{Protocol: sp.protocol, Addr: k.vip, Port: sp.port, Scheduler: "rr"}, Line: line}
			if k.affinity {
				s.Persistence, s.PersistenceBits = AffinityTimeout, 32
			}
			for _, pod := range endpoints {
				line++
				s.AddReal(&Real{Real: harness.Real{Addr: pod, Port: sp.podPort, Weight: 1, Method: harness.MethodNAT}, Line: line})
			}
			if err := t.Add(s); err != nil {
				return nil, err
			}
		}
	}
	return t, nil
}

func pickProfile(rng *rand.Rand) []servicePort {
	n := rng.IntN(100)
	for _, p := range profiles {
		if n < p.percent {
			return p.ports
		}
		n -= p.percent
	}
	return profiles[0].ports
}

type podDraw struct {
	rng   *rand.Rand
	order []netip.Addr
	next  int
}

func newPodDraw(rng *rand.Rand, n int) *podDraw {
	d := &podDraw{rng: rng}
	a := PodIPs.Addr()
	for range n {
		a = a.Next()
		d.order = append(d.order, a)
	}
	d.rng.Shuffle(len(d.order), func(i, j int) { d.order[i], d.order[j] = d.order[j], d.order[i] })
	return d
}

// take draws n distinct pods (n is at most the number of pods).
func (d *podDraw) take(n int) []netip.Addr {
	out := make([]netip.Addr, 0, n)
	seen := make(map[netip.Addr]bool, n)
	for len(out) < n {
		if d.next == len(d.order) {
			d.rng.Shuffle(len(d.order), func(i, j int) { d.order[i], d.order[j] = d.order[j], d.order[i] })
			d.next = 0
		}
		a := d.order[d.next]
		d.next++
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out
}
