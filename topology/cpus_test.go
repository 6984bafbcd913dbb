//go:build linux

package topology

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestCPUListRoundTrip(t *testing.T) {
	for in, want := range map[string]string{"0": "0", "0-2,5": "0-2,5", "5,0-2": "0-2,5", "3,4,5,9": "3-5,9", " 1 , 2 ": "1-2", "": ""} {
		l, err := ParseCPUList(in)
		if err != nil {
			t.Fatalf("ParseCPUList(%q): %v", in, err)
		}
		if l.String() != want {
			t.Errorf("ParseCPUList(%q) = %s, want %s", in, l, want)
		}
	}
	for _, bad := range []string{"a", "1-", "3-1", "-1", "1,1", "0-4096", "1;2"} {
		if _, err := ParseCPUList(bad); err == nil {
			t.Errorf("ParseCPUList(%q) accepted", bad)
		}
	}
}

func TestCPUListMask(t *testing.T) {
	for in, want := range map[string]string{"0": "00000001", "1": "00000002", "0-3": "0000000f", "2,33": "00000002,00000004", "": "0"} {
		l, _ := ParseCPUList(in)
		if got := l.Mask(); got != want {
			t.Errorf("Mask(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestCPUListJSON(t *testing.T) {
	n := NodeSpec{Name: "director", CPUs: CPUList{1, 2, 3}}
	data, err := json.Marshal(n)
	if err != nil || !strings.Contains(string(data), `"cpus":"1-3"`) {
		t.Fatalf("marshal: %s %v", data, err)
	}
	var back NodeSpec
	if err := json.Unmarshal(data, &back); err != nil || !slices.Equal(back.CPUs, n.CPUs) {
		t.Fatalf("unmarshal: %v %v", back.CPUs, err)
	}
}

func roles(s *Spec) map[string]string {
	out := map[string]string{}
	for _, n := range s.Nodes {
		out[n.Name] = n.CPUs.String()
	}
	return out
}

func TestIsolateSplits(t *testing.T) {
	cases := []struct {
		cpus                              string
		client, director, router, servers string
	}{
		{"0-2", "0", "1", "2", "2"},
		{"0-3", "0", "1", "2", "3"},
		{"0-5", "0,3", "1", "2", "4-5"},
		{"4-8", "4,7", "5", "6", "8"},
	}
	for _, c := range cases {
		s := Paper()
		cpus, _ := ParseCPUList(c.cpus)
		if err := Isolate(s, cpus); err != nil {
			t.Fatalf("Isolate(%s): %v", c.cpus, err)
		}
		got := roles(s)
		want := map[string]string{"client": c.client, "director": c.director, "router": c.router, "rs1": c.servers, "rs8": c.servers}
		for node, w := range want {
			if got[node] != w {
				t.Errorf("Isolate(%s): %s on %s, want %s", c.cpus, node, got[node], w)
			}
		}
		mustPlan(t, s)
	}
	if err := Isolate(Paper(), CPUList{0, 1}); err == nil || !strings.Contains(err.Error(), "at least 3") {
		t.Errorf("two CPUs: %v", err)
	}
}

func TestStations(t *testing.T) {
	s := Paper()
	Isolate(s, CPUList{0, 1, 2})
	var names []string
	for _, st := range Stations(mustPlan(t, s)) {
		names = append(names, st.Name+":"+st.CPUs.String())
	}
	if want := []string{"client:0", "director:1", "router+servers:2"}; !slices.Equal(names, want) {
		t.Errorf("stations %v, want %v", names, want)
	}
	Isolate(s, CPUList{0, 1, 2, 3})
	st, ok := StationOf(Stations(mustPlan(t, s)), "rs4")
	if !ok || st.Name != "servers" || len(st.Nodes) != 8 {
		t.Errorf("rs4's station %+v", st)
	}
	if len(Stations(Paper())) != 0 {
		t.Error("a spec without cpus has stations")
	}
}

func TestPlanRefusesPartlySharedCPUs(t *testing.T) {
	s := Paper()
	s.Nodes[0].CPUs = CPUList{0, 1}
	s.Nodes[1].CPUs = CPUList{1}
	_, err := Plan(s)
	if err == nil || !strings.Contains(err.Error(), "share some CPUs but not all") {
		t.Errorf("partly shared CPUs: %v", err)
	}
	s.Nodes[1].CPUs = CPUList{2, 2}
	if _, err := Plan(s); err == nil || !strings.Contains(err.Error(), "once, in order") {
		t.Errorf("CPU named twice: %v", err)
	}
}

func TestSwitchSettings(t *testing.T) {
	if _, err := Plan(Paper(WithSwitch(Switch{AgeingTime: time.Millisecond}))); err == nil || !strings.Contains(err.Error(), "ageing time") {
		t.Errorf("1ms ageing time: %v", err)
	}
	if got := *Paper(WithSwitch(Switch{Learning: true, AgeingTime: 1500 * time.Millisecond})).Switch.bridgeAgeing(); got != 150 {
		t.Errorf("1.5s is %d hundredths", got)
	}
	if (Switch{}).bridgeAgeing() != nil {
		t.Error("the default ageing time is not left to the kernel")
	}
	if !strings.Contains(Switch{}.String(), "static") || !strings.Contains(Switch{Learning: true}.String(), "flooded") {
		t.Error("Switch.String does not say what the bridges do")
	}
}

func TestParseSwitchAndCPUs(t *testing.T) {
	base := `name: x
vip: {ipv4: 203.0.113.10, port: 80}
segments: [{name: back, ipv4: 192.0.2.0/24}]
`
	s, err := Parse([]byte(base + `switch: {learning: true, ageing_time: 2s}
nodes:
  - {name: client, role: client, links: [{segment: back}], cpus: "0"}
  - {name: rs1, role: real-server, links: [{segment: back}], cpus: [1, 2]}
`))
	if err != nil {
		t.Fatal(err)
	}
	if !s.Switch.Learning || s.Switch.AgeingTime != 2*time.Second {
		t.Errorf("switch %+v", s.Switch)
	}
	if s.Nodes[0].CPUs.String() != "0" || s.Nodes[1].CPUs.String() != "1-2" {
		t.Errorf("cpus %v %v", s.Nodes[0].CPUs, s.Nodes[1].CPUs)
	}
	_, err = Parse([]byte(base + `switch: {ageing_time: soon}
nodes: [{name: rs1, role: real-server, links: [{segment: back}], cpus: "x"}]
`))
	if err == nil || !strings.Contains(err.Error(), "ageing_time") || !strings.Contains(err.Error(), "(rs1).cpus") {
		t.Errorf("bad switch and cpus: %v", err)
	}
}

func TestBatchSelfReachesLaterThreadsAndChildren(t *testing.T) {
	if err := BatchSelf(); err != nil {
		t.Fatal(err)
	}
	policy := func(tid int) uint32 {
		a, err := unix.SchedGetAttr(tid, 0)
		if err != nil {
			t.Fatalf("policy of thread %d: %v", tid, err)
		}
		return a.Policy
	}
	if p := policy(unix.Gettid()); p != unix.SCHED_BATCH {
		t.Errorf("this thread's policy %d, want SCHED_BATCH (%d)", p, unix.SCHED_BATCH)
	}
	// A thread started now, and a process it starts, inherit the policy.
	done := make(chan uint32)
	go func() {
		runtime.LockOSThread() // a thread the runtime may have started after BatchSelf; never reused
		done <- policy(unix.Gettid())
	}()
	if p := <-done; p != unix.SCHED_BATCH {
		t.Errorf("a later thread's policy %d, want SCHED_BATCH", p)
	}
	out, err := exec.Command("cat", "/proc/self/stat").Output()
	if err != nil {
		t.Fatal(err)
	}
	// Field 41 is the policy; the command name (field 2) has no space here.
	if f := strings.Fields(string(out)); len(f) < 41 || f[40] != strconv.Itoa(unix.SCHED_BATCH) {
		t.Errorf("a child's /proc/self/stat policy field: %v, want %d", f[min(40, len(f)-1)], unix.SCHED_BATCH)
	}
}

// A node asking for a CPU this host does not have was accepted and failed
// midway (steering its receive processing): Build refuses it first.
func TestBuildRefusesCPUsThisHostLacks(t *testing.T) {
	state, _ := tempRoots(t)
	// A state root that cannot be made: anything Build does past its
	// checks fails on it, with another error.
	touch(t, filepath.Join(state, "file"))
	StateRoot = filepath.Join(state, "file", "lvslab")
	online, err := OnlineCPUs()
	if err != nil {
		t.Fatal(err)
	}
	spec := Small()
	spec.Nodes[0].CPUs = CPUList{online[len(online)-1] + 1}
	_, err = Build(context.Background(), spec)
	if err == nil || !strings.Contains(err.Error(), "is not online on this machine") {
		t.Errorf("Build: %v", err)
	}
}
