//go:build linux

package vm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"
)

// split feeds chunks to a lineSplitter, flushing after each one, and
// returns what a console would show.
func split(chunks ...string) (shown string, lines []string) {
	var out strings.Builder
	s := &lineSplitter{
		line: func(text string, n int) {
			lines = append(lines, text)
			out.WriteString(text[n:] + "\n")
		},
		partial:  func(text string) { out.WriteString(text) },
		mayFlush: func(start []byte) bool { return !bytes.HasPrefix(start, []byte(markerPrefix)) },
	}
	for _, c := range chunks {
		s.Write([]byte(c))
		s.Flush()
	}
	return out.String(), lines
}

func TestConsoleShowsPartialLinesOnce(t *testing.T) {
	shown, lines := split("Running 3 specs\n•", "•", "•\nRan 3 of 3\r\n")
	if shown != "Running 3 specs\n•••\nRan 3 of 3\n" {
		t.Errorf("console showed %q: progress dots must show as they come, each once", shown)
	}
	if !slices.Equal(lines, []string{"Running 3 specs", "•••", "Ran 3 of 3"}) {
		t.Errorf("lines %q", lines)
	}
	// A character split across reads is shown whole.
	var parts []string
	s := &lineSplitter{line: func(string, int) {}, partial: func(p string) { parts = append(parts, p) },
		mayFlush: func([]byte) bool { return true }}
	for _, c := range []string{"•", "\xe2\x80", "\xa2•"} {
		s.Write([]byte(c))
		s.Flush()
	}
	if strings.Join(parts, "") != "•••" || !slices.ContainsFunc(parts, func(p string) bool { return p == "••" }) {
		t.Errorf("partial lines %q: each must end on a whole character", parts)
	}
	for _, p := range parts {
		if !utf8.ValidString(p) {
			t.Errorf("partial line %q cuts a character", p)
		}
	}
	// A marker is never shown in pieces: lvslab reads it whole.
	shown, lines = split("lvslab-guest: exit sta", "tus 3\n")
	if shown != "lvslab-guest: exit status 3\n" || lines[0] != markerExit+"3" {
		t.Errorf("marker split: shown %q, lines %q", shown, lines)
	}
}

func TestConsoleCutsLongLinesAndKeepsReading(t *testing.T) {
	long := strings.Repeat("x", 3*maxConsoleLine)
	_, lines := split(long[:maxConsoleLine/2], long[maxConsoleLine/2:]+"\nnext\n")
	if len(lines) != 2 || lines[1] != "next" {
		t.Fatalf("after a long line the reader must go on: lines %d", len(lines))
	}
	if !strings.HasPrefix(lines[0], strings.Repeat("x", maxConsoleLine)+" [lvslab: ") || !strings.Contains(lines[0], "more bytes of this line cut") {
		t.Errorf("the long line should be cut at %d bytes and say so: ends %q", maxConsoleLine, lines[0][len(lines[0])-60:])
	}
}

func TestPumpFlushesAfterAPause(t *testing.T) {
	r, w, _ := os.Pipe()
	got := make(chan string, 4)
	s := &lineSplitter{line: func(string, int) {}, partial: func(t string) { got <- t }, mayFlush: func([]byte) bool { return true }}
	go pump(r, s)
	w.Write([]byte("•"))
	select {
	case p := <-got:
		if p != "•" {
			t.Errorf("partial %q", p)
		}
	case <-time.After(10 * partialAfter):
		t.Fatal("a line without its newline was not shown after a pause")
	}
	w.Close()
}

func TestQEMUOptionValuesEscapeCommas(t *testing.T) {
	o := Options{Kernel: &Kernel{Image: "/k,1/bzImage"}, CPUs: 1, Memory: "1G", OutDir: "/tmp/out,readonly=on"}
	args := strings.Join(qemuArgs("tcg", "/tmp/i", o), " ")
	if !strings.Contains(args, "local,path=/tmp/out,,readonly=on,mount_tag=out,") {
		t.Errorf("a comma in --out must be doubled for QEMU: %s", args)
	}
}

// A busy host delayed TCG's timer interrupt past the kernel's boot-time
// check, which then panicked: the check is off.
func TestGuestSkipsTheTimerCheck(t *testing.T) {
	args := qemuArgs("tcg", "/tmp/i", Options{Kernel: &Kernel{Image: "/k"}, CPUs: 2, Memory: "1G"})
	i := slices.Index(args, "-append")
	if i < 0 || !slices.Contains(strings.Fields(args[i+1]), "no_timer_check") {
		t.Errorf("the guest's command line lacks no_timer_check: %v", args)
	}
}

func TestCheckNamesEachBadInput(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, "link")
	os.Symlink(dir, link)
	o := Options{Argv: []string{"no-such-command-kb"}, CPUs: 0, Memory: "2 gigs", Timeout: 0, Accel: "fast",
		Dir: "/", OutDir: link, InitBinary: "/etc/hostname", Env: []string{"PATH=/bin"}}
	err := o.Check()
	if err == nil {
		t.Fatal("bad options passed")
	}
	for _, want := range []string{"--cpus 0: use 1 to 64", `--memory "2 gigs": give a size in M or G`, "--timeout 0s: give a positive duration",
		`--accel "fast": use auto, kvm or tcg`, "command no-such-command-kb not found in the guest's PATH (/bin): give its path",
		"is a symlink: the guest writes there, so give the real folder with --out", "init binary /etc/hostname"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Check's error does not say %q:\n%v", want, err)
		}
	}
	ok := Options{Argv: []string{"true"}, CPUs: 2, Memory: "2G", Timeout: time.Minute, Accel: "auto", Dir: "/", OutDir: filepath.Join(dir, "new")}
	if err := ok.Check(); err != nil && !strings.Contains(err.Error(), "qemu-system-x86_64 is not installed") {
		t.Errorf("good options refused: %v", err)
	}
}

func TestGuestSymlinksInOutAreRefused(t *testing.T) {
	dir := t.TempDir()
	if err := CheckOutDir(dir); err != nil {
		t.Fatal(err)
	}
	os.Symlink("/etc/passwd", filepath.Join(dir, "results.txt"))
	err := refuseSymlinks(dir)
	if err == nil || !strings.Contains(err.Error(), "results.txt -> /etc/passwd") || !strings.Contains(err.Error(), "must write files, not links") {
		t.Fatalf("a symlink the guest made was not refused: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "results.txt")); err == nil {
		t.Error("the guest's symlink is still there")
	}
}

// A symlink planted in the output folder before the run (in a folder
// others can write) used to be kept, and the host's reports went through
// it as root: the folder is refused before anything runs.
func TestOutDirHoldingASymlinkIsRefused(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "sub"), 0o755)
	os.Symlink("/etc/shadow", filepath.Join(dir, "sub", "summary.md"))
	err := CheckOutDir(dir)
	if err == nil || !strings.Contains(err.Error(), "summary.md -> /etc/shadow") || !strings.Contains(err.Error(), "remove them or give another --out") {
		t.Errorf("an output folder holding a symlink: %v", err)
	}
	o := Options{Argv: []string{"true"}, CPUs: 2, Memory: "2G", Timeout: time.Minute, Accel: "auto", Dir: "/", OutDir: dir}
	if err := o.Check(); err == nil || !strings.Contains(err.Error(), "holds symlinks") {
		t.Errorf("Check: %v", err)
	}
}

func TestIsGuestNeedsTheInitramfsMarker(t *testing.T) {
	// This test is not PID 1 and not named modprobe; and the marker is a
	// file no host has.
	if IsGuest() {
		t.Error("a host process was taken for the guest")
	}
}

func TestDynamicInitBinaryCarriesItsLibraries(t *testing.T) {
	files, err := initFiles("/bin/sh")
	if err != nil {
		t.Fatal(err)
	}
	var libc, interp bool
	for _, f := range files {
		libc = libc || strings.HasSuffix(f, "/libc.so.6")
		interp = interp || strings.HasPrefix(filepath.Base(f), "ld-linux-x86-64.so")
	}
	if !libc || !interp {
		t.Errorf("/bin/sh needs its interpreter and libc in the initramfs, got %v", files)
	}
	self, _ := os.Executable()
	if _, err := initFiles(self); err != nil {
		t.Errorf("this test binary: %v", err)
	}
	if _, err := initFiles("/etc/hostname"); err == nil || !strings.Contains(err.Error(), "give lvslab's own binary") {
		t.Errorf("not an ELF file: %v", err)
	}
}

func TestLDCacheReadsLibc(t *testing.T) {
	libs, err := readLDCache(ldCache)
	if err != nil {
		t.Skip("no readable " + ldCache + ": " + err.Error())
	}
	if p := libs["libc.so.6"]; !strings.HasSuffix(p, "/libc.so.6") {
		t.Errorf("libc.so.6 maps to %q", p)
	}
}

// fakeQEMU is a stand-in for qemu-system-x86_64 that runs script.
func fakeQEMU(t *testing.T, script string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "qemu")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+script+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestKVMHangIsRecordedOnlyWhenTheWatchdogFires(t *testing.T) {
	t.Setenv(CacheEnv, t.TempDir())
	kvm, tcg := kvmBootLimit, tcgBootLimit
	kvmBootLimit, tcgBootLimit = 300*time.Millisecond, 300*time.Millisecond
	defer func() { kvmBootLimit, tcgBootLimit = kvm, tcg }()
	var said []string
	o := Options{Kernel: &Kernel{Name: "k", Image: "/k"}, CPUs: 1, Memory: "1G", Console: io.Discard,
		Log: func(s string) { said = append(said, s) }}

	_, err := boot(t.Context(), fakeQEMU(t, "echo 'qemu: could not set MSR' >&2; exit 1"), []string{"kvm", "tcg"}, "/i", o)
	var early earlyExit
	if !errors.As(err, &early) || !strings.Contains(err.Error(), "could not set MSR") {
		t.Errorf("QEMU that stops at once: %v", err)
	}
	if _, err := os.Stat(kvmHangsFile()); err == nil {
		t.Error("a QEMU that stopped at once was recorded as a KVM hang")
	}
	if !slices.ContainsFunc(said, func(s string) bool { return strings.Contains(s, "restarting under tcg") }) {
		t.Errorf("no fallback to TCG after QEMU stopped under KVM: %q", said)
	}

	_, err = boot(t.Context(), fakeQEMU(t, "exec sleep 30"), []string{"kvm", "tcg"}, "/i", o)
	var hung bootHang
	if !errors.As(err, &hung) {
		t.Errorf("a guest with no sign of life: %v", err)
	}
	if _, err := os.Stat(kvmHangsFile()); err != nil {
		t.Errorf("the watchdog fired under KVM but nothing was recorded: %v", err)
	}
}

func TestTimeoutIsErrTimeout(t *testing.T) {
	t.Setenv(CacheEnv, t.TempDir())
	o := Options{Kernel: &Kernel{Name: "k", Image: "/k"}, CPUs: 1, Memory: "1G", Console: io.Discard, Log: func(string) {},
		Timeout: 500 * time.Millisecond}
	ctx, cancel := context.WithTimeout(t.Context(), o.Timeout)
	defer cancel()
	_, err := boot(ctx, fakeQEMU(t, "echo booted; exec sleep 30"), []string{"tcg"}, "/i", o)
	if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "500ms") {
		t.Errorf("a guest that outlives its timeout: %v (want ErrTimeout naming the limit)", err)
	}
	_, err = boot(t.Context(), fakeQEMU(t, "echo 'qemu: could not set MSR' >&2; exit 1"), []string{"tcg"}, "/i", o)
	if errors.Is(err, ErrTimeout) {
		t.Errorf("a QEMU that stopped at once is no timeout: %v", err)
	}
}

// A report path straight in /tmp made /tmp the output folder: lvslab
// walked all of it, failed on an entry that vanished meanwhile, and would
// have written as root where anyone can plant a link.
func TestWorldWritableOutDirIsRefused(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o1777); err != nil {
		t.Fatal(err)
	}
	err := CheckOutDir(dir)
	if err == nil || !strings.Contains(err.Error(), "writable by every user") || !strings.Contains(err.Error(), "give a folder of your own") {
		t.Errorf("a world-writable output folder: %v", err)
	}
}

func TestAnEntryVanishingDuringTheWalkIsNoError(t *testing.T) {
	dir := t.TempDir()
	for i := range 200 {
		os.MkdirAll(filepath.Join(dir, fmt.Sprintf("d%03d", i), "sub"), 0o755)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 200 {
			os.RemoveAll(filepath.Join(dir, fmt.Sprintf("d%03d", i)))
		}
	}()
	for range 20 {
		if _, err := symlinksUnder(dir); err != nil {
			t.Fatalf("a folder removed during the walk: %v", err)
		}
	}
	<-done
}

// Another user's folder could be theirs to plant a link in after the
// check: refused, as a world-writable one is.
func TestAnotherUsersOutDirIsRefused(t *testing.T) {
	dir := t.TempDir()
	st, err := os.Lstat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !ownedHere(st) {
		t.Errorf("this user's own folder %s refused", dir)
	}
	t.Setenv("SUDO_UID", "1000")
	if ownedHere(ownedBy{st, 65534}) {
		t.Error("a folder of uid 65534 taken for this user's")
	}
	if !ownedHere(ownedBy{st, 1000}) {
		t.Error("the folder of the user who ran sudo refused")
	}
	if os.Geteuid() == 0 && os.Chown(dir, 65534, 65534) == nil {
		if err := CheckOutDir(dir); err == nil || !strings.Contains(err.Error(), "belongs to another user") {
			t.Errorf("another user's output folder: %v", err)
		}
	}
}

// ownedBy is a file's information with another owner.
type ownedBy struct {
	fs.FileInfo
	uid uint32
}

func (o ownedBy) Sys() any { return &syscall.Stat_t{Uid: o.uid} }

// A guest kernel that dies is named by its oops and panic, from the lines
// it printed (as 6.12 printed them under TCG), not by the console's tail.
func TestAGuestKernelsDeathIsNamed(t *testing.T) {
	var k kernelDeath
	for _, line := range []string{
		"••••[  481.023153] Oops: int3: 0000 [#1] PREEMPT SMP NOPTI",
		"[  481.023837] CPU: 1 UID: 0 PID: 164 Comm: ginkgo Not tainted 6.12.117+deb12-amd64 #1  Debian 6.12.117-1~deb12u1",
		"[  481.024711] RIP: 0010:netif_rx_internal+0x1e/0x120",
		"[  481.030797] RIP: 0010:netif_rx_internal+0x1e/0x120",
		"[  481.031199] Kernel panic - not syncing: Fatal exception in interrupt",
	} {
		if k.err() != nil {
			t.Fatalf("a death before the panic line: %v", k.err())
		}
		k.read(line)
	}
	err := k.err()
	if err == nil {
		t.Fatal("the panic was not seen")
	}
	for _, want := range []string{"Kernel panic - not syncing: Fatal exception in interrupt", "Oops: int3: 0000 [#1] PREEMPT SMP NOPTI in netif_rx_internal+0x1e/0x120", "run it again"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
}
