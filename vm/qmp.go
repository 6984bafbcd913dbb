//go:build linux

package vm

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"time"
)

// VCPUThreads asks a running QEMU, through its monitor socket (QMP), for
// the host thread that runs each vCPU, by guest CPU number: under MTTCG
// or KVM every vCPU has a thread of its own (query-cpus-fast,
// docs/interop/qemu-qmp-ref). QEMU creates the socket as it starts, so
// this waits up to timeout for it to answer.
//
// The protocol is spoken here directly (a greeting, qmp_capabilities, one
// command, events skipped): the QMP client of digitalocean/go-qemu would
// bring in go-libvirt's RPC client for two requests.
func VCPUThreads(socket string, timeout time.Duration) (map[int]int, error) {
	deadline := time.Now().Add(timeout)
	var conn net.Conn
	for {
		var err error
		if conn, err = net.DialTimeout("unix", socket, time.Second); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("QEMU's monitor %s did not answer within %s: %w", socket, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	defer conn.Close()
	conn.SetDeadline(deadline.Add(5 * time.Second))
	dec := json.NewDecoder(conn)
	// reply reads messages until the one that answers (events have "event").
	type message struct {
		QMP    json.RawMessage `json:"QMP"`
		Event  string          `json:"event"`
		Return json.RawMessage `json:"return"`
		Error  *struct {
			Class string `json:"class"`
			Desc  string `json:"desc"`
		} `json:"error"`
	}
	reply := func(what string) (json.RawMessage, error) {
		for {
			var m message
			if err := dec.Decode(&m); err != nil {
				return nil, fmt.Errorf("QMP %s: %w", what, err)
			}
			switch {
			case m.Error != nil:
				return nil, fmt.Errorf("QMP %s: %s: %s", what, m.Error.Class, m.Error.Desc)
			case m.QMP != nil || m.Event != "":
				if what == "greeting" && m.QMP != nil {
					return m.QMP, nil
				}
			default:
				return m.Return, nil
			}
		}
	}
	ask := func(cmd string) (json.RawMessage, error) {
		if _, err := fmt.Fprintf(conn, `{"execute":%q}`+"\n", cmd); err != nil {
			return nil, fmt.Errorf("QMP %s: %w", cmd, err)
		}
		return reply(cmd)
	}
	if _, err := reply("greeting"); err != nil {
		return nil, err
	}
	if _, err := ask("qmp_capabilities"); err != nil {
		return nil, err
	}
	raw, err := ask("query-cpus-fast")
	if err != nil {
		return nil, err
	}
	var cpus []struct {
		Index  int `json:"cpu-index"`
		Thread int `json:"thread-id"`
	}
	if err := json.Unmarshal(raw, &cpus); err != nil {
		return nil, fmt.Errorf("QMP query-cpus-fast answered %s: %w", raw, err)
	}
	out := map[int]int{}
	for _, c := range cpus {
		out[c.Index] = c.Thread
	}
	if len(out) == 0 {
		return nil, errors.New("QMP query-cpus-fast listed no vCPU")
	}
	return out, nil
}
