//go:build linux

package topology

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A batch that fails (the process out of descriptors) fails its callers
// only: the factory makes the next batch when asked.
func TestSocketPoolSurvivesAFailedBatch(t *testing.T) {
	var calls atomic.Int32
	create := func(key [2]int) ([]int, error) {
		if calls.Add(1) == 1 {
			return nil, unix.EMFILE
		}
		return makeSockets(key)
	}
	quit := make(chan struct{})
	closed := errors.New("pool closed")
	p := startSocketPool(func() error { return nil }, create, quit, closed)

	if _, err := p.socket(unix.AF_INET, unix.SOCK_STREAM); !errors.Is(err, unix.EMFILE) {
		t.Fatalf("first socket: error %v, want EMFILE", err)
	}
	for i := range 3 * socketBatchSize {
		fd, err := p.socket(unix.AF_INET, unix.SOCK_STREAM)
		if err != nil {
			t.Fatalf("socket %d after a failed batch: %v (the factory must survive it)", i, err)
		}
		if v, err := unix.GetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT); err != nil || v != 1 {
			t.Errorf("socket %d: IP_BIND_ADDRESS_NO_PORT %d, %v", i, v, err)
		}
		unix.Close(fd)
	}

	p.mu.Lock()
	held := append([]int(nil), p.free[[2]int{unix.AF_INET, unix.SOCK_STREAM}]...)
	p.mu.Unlock()
	close(quit)
	// The factory ends soon after quit; until then the pool may still hand
	// out what it holds.
	deadline := time.Now().Add(5 * time.Second)
	for {
		fd, err := p.socket(unix.AF_INET, unix.SOCK_STREAM)
		if err == nil && time.Now().Before(deadline) {
			unix.Close(fd)
			time.Sleep(time.Millisecond)
			continue
		}
		if !errors.Is(err, closed) {
			t.Fatalf("socket after quit: error %v, want %v", err, closed)
		}
		break
	}
	// What the pool still held is closed with it.
	open := 0
	for _, fd := range held {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil {
			open++
		}
	}
	if open > 0 {
		t.Errorf("%d descriptors the pool held are still open after quit", open)
	}
}

// A factory that cannot enter its namespace fails every call, at once.
func TestSocketPoolThatCannotStart(t *testing.T) {
	enterErr := errors.New("enter namespace lvs-x-client: no such file")
	p := startSocketPool(func() error { return enterErr }, makeSockets, make(chan struct{}), errors.New("unused"))
	for range 2 {
		if _, err := p.socket(unix.AF_INET6, unix.SOCK_DGRAM); !errors.Is(err, enterErr) {
			t.Fatalf("error %v, want %v", err, enterErr)
		}
	}
}
