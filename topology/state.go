//go:build linux

package topology

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// StateRoot holds one directory per lab: what it created and which
// processes serve it. Only what is recorded here, or named like a lab's
// namespace, is ever swept.
var StateRoot = "/run/lvslab"

// netnsRoot is where "ip netns" looks for named namespaces.
var netnsRoot = "/run/netns"

const (
	stateFile = "state.json"
	// lockFile is flock(2)ed: exclusively while a lab is built or removed,
	// shared while it is loaded. The kernel drops the lock when its holder
	// dies, however it dies.
	lockFile = "lock"
	// stagingPrefix names a lab's directory until its state is complete:
	// it is renamed into place, so a lab's directory always holds its state.
	stagingPrefix = ".new-"
)

// lockWait is how long a command waits for another one to let go of a lab.
var lockWait = 5 * time.Second

// State is what a lab records about itself before it creates anything.
type State struct {
	Lab        string    `json:"lab"`
	Created    time.Time `json:"created"`
	Namespaces []string  `json:"namespaces"`
	Spec       *Spec     `json:"spec"`
}

func stateDir(lab string) string { return filepath.Join(StateRoot, lab) }

// checkStateRoot refuses a state root that someone other than this user
// could have planted files in: lvslab acts as root on what it reads there.
func checkStateRoot() error {
	return checkOwned(StateRoot, true)
}

// checkOwned refuses a path that is a symbolic link, not owned by the user
// lvslab runs as (root), or writable by its group or others.
func checkOwned(path string, dir bool) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case fi.Mode()&os.ModeSymlink != 0:
		return fmt.Errorf("%s is a symbolic link, not something lvslab made: remove it by hand", path)
	case dir != fi.IsDir():
		return fmt.Errorf("%s is not what lvslab makes there (a %s): remove it by hand", path, map[bool]string{true: "directory", false: "file"}[dir])
	case !ok:
		return fmt.Errorf("%s: cannot read its owner: refusing to act on it", path)
	case int(st.Uid) != os.Geteuid():
		return fmt.Errorf("%s is owned by uid %d, not by uid %d as lvslab's own files are: refusing to act on it; remove it by hand", path, st.Uid, os.Geteuid())
	case fi.Mode().Perm()&0o022 != 0:
		return fmt.Errorf("%s is writable by other users (mode %v): refusing to act on what they could have written; remove it by hand", path, fi.Mode().Perm())
	}
	return nil
}

// labLock is a lab's lock held by this process.
type labLock struct{ f *os.File }

// lockLab takes a lab's lock, exclusive or shared, waiting up to wait for
// another command to let go. create makes the lock file in a directory
// that has none (a lab killed before it wrote one).
func lockLab(dir string, exclusive, create bool, wait time.Duration) (*labLock, error) {
	path := filepath.Join(dir, lockFile)
	flags := os.O_RDONLY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	if create {
		flags |= os.O_CREATE
	}
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	deadline := time.Now().Add(wait)
	for {
		f, err := os.OpenFile(path, flags, 0o600)
		if err != nil {
			return nil, err
		}
		err = unix.Flock(int(f.Fd()), how|unix.LOCK_NB)
		if err == nil {
			// The lab may have been removed (and the file unlinked) between
			// the open and the lock: then this lock guards nothing.
			if same(f, path) {
				return &labLock{f: f}, nil
			}
			f.Close()
			if _, err := os.Lstat(dir); err != nil {
				return nil, err
			}
			continue
		}
		f.Close()
		if !errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if time.Now().After(deadline) {
			return nil, errBusy
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var errBusy = errors.New("another lvslab command is using it (building, loading or removing it)")

// same reports whether the open file f is still the one at path.
func same(f *os.File, path string) bool {
	a, err1 := f.Stat()
	b, err2 := os.Lstat(path)
	return err1 == nil && err2 == nil && os.SameFile(a, b)
}

func (l *labLock) release() {
	if l != nil && l.f != nil {
		l.f.Close()
		l.f = nil
	}
}

// Use takes a shared lock on a lab that is up, so that no other command
// removes or rebuilds it while this one uses it (lvslab load). Call
// release when done; the lock also ends with the process.
func Use(lab string) (release func(), err error) {
	if err := CheckLabName(lab); err != nil {
		return nil, err
	}
	if err := checkStateRoot(); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	dir := stateDir(lab)
	if err := checkOwned(dir, true); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no lab named %q is up (see lvslab status): %w", lab, os.ErrNotExist)
	} else if err != nil {
		return nil, err
	}
	l, err := lockExisting(lab, false)
	if err != nil {
		return nil, err
	}
	return l.release, nil
}

// lockExisting takes the lock of a lab whose directory exists.
func lockExisting(lab string, exclusive bool) (*labLock, error) {
	l, err := lockLab(stateDir(lab), exclusive, true, lockWait)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no lab named %q is up (removed meanwhile): %w", lab, os.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("lab %s: %w; try again when it is done", lab, err)
	}
	return l, nil
}

// claimState makes the lab's state directory, holding its lock, with the
// state recorded in it, in one step: it is filled under a temporary name
// and renamed into place, so that it fails if the name is in use and no
// lab directory is ever seen without its state.
func claimState(st *State) (*labLock, error) {
	if err := os.MkdirAll(StateRoot, 0o755); err != nil {
		return nil, fmt.Errorf("create state root %s: %w", StateRoot, err)
	}
	if err := checkStateRoot(); err != nil {
		return nil, err
	}
	dir := stateDir(st.Lab)
	exists := func() error {
		return fmt.Errorf("lab %q already exists (state in %s): pick another --name, or remove it with: lvslab down --name %s",
			st.Lab, dir, st.Lab)
	}
	if _, err := os.Lstat(dir); err == nil {
		return nil, exists()
	}
	staging, err := os.MkdirTemp(StateRoot, stagingPrefix+st.Lab+"-")
	if errors.Is(err, os.ErrNotExist) {
		// A down --all removed the empty state root meanwhile.
		if err = os.MkdirAll(StateRoot, 0o755); err == nil {
			staging, err = os.MkdirTemp(StateRoot, stagingPrefix+st.Lab+"-")
		}
	}
	if err != nil {
		return nil, fmt.Errorf("create state directory: %w", err)
	}
	lock, err := lockLab(staging, true, true, 0)
	if err == nil {
		err = errors.Join(os.Chmod(staging, 0o755), writeJSON(filepath.Join(staging, stateFile), st))
	}
	if err == nil {
		err = unix.Renameat2(unix.AT_FDCWD, staging, unix.AT_FDCWD, dir, unix.RENAME_NOREPLACE)
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
			// A file system without RENAME_NOREPLACE: rename refuses a
			// non-empty target, and every lab directory has its state.
			err = os.Rename(staging, dir)
		}
		if errors.Is(err, unix.EEXIST) || errors.Is(err, unix.ENOTEMPTY) {
			err = exists()
		} else if err != nil {
			err = fmt.Errorf("create state directory %s: %w", dir, err)
		}
	}
	if err != nil {
		lock.release()
		os.RemoveAll(staging)
		return nil, err
	}
	return lock, nil
}

// ReadState reads a lab's state, refusing one that lvslab did not write.
func ReadState(lab string) (*State, error) {
	if err := CheckLabName(lab); err != nil {
		return nil, err
	}
	path := filepath.Join(stateDir(lab), stateFile)
	if err := checkOwned(path, false); errors.Is(err, os.ErrNotExist) {
		if _, derr := os.Lstat(stateDir(lab)); derr == nil {
			return nil, &corruptError{lab, "its state directory has no " + stateFile}
		}
		return nil, fmt.Errorf("no lab named %q is up (see lvslab status): %w", lab, os.ErrNotExist)
	} else if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read state of lab %s: %w", lab, err)
	}
	var st State
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, &corruptError{lab, err.Error()}
	}
	if st.Spec == nil || st.Lab != lab {
		return nil, &corruptError{lab, "it names another lab or has no spec"}
	}
	return &st, nil
}

// corruptError is a lab whose state cannot be read: half-built or damaged.
// Remove still removes it, from what exists on the host.
type corruptError struct{ lab, why string }

func (e *corruptError) Error() string {
	return fmt.Sprintf("state of lab %s is corrupt or half-built (%s): remove it with lvslab down --name %s", e.lab, e.why, e.lab)
}

// IsCorrupt says whether err is a lab whose state cannot be read, which
// lvslab down removes from what exists on the host.
func IsCorrupt(err error) bool {
	var c *corruptError
	return errors.As(err, &c)
}

// Labs lists the labs recorded in the state root, by name. Entries that
// are not a lab's directory (a lab being built, anything foreign) are not
// listed.
func Labs() ([]string, error) {
	entries, err := os.ReadDir(StateRoot)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list labs: %w", err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && CheckLabName(e.Name()) == nil {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// StateFile returns the path of a file in the lab's state directory, for
// the harness to keep its own records (sockets, logs) beside the lab's.
// lab must have passed CheckLabName.
func StateFile(lab, name string) string { return filepath.Join(stateDir(lab), name) }

// Remove stops a lab's processes, deletes its namespaces and its state
// directory: what "lvslab down" does. It is safe to repeat, and it removes
// a half-built or corrupt lab from what exists on the host. It refuses a
// name that breaks the lab-name rule before building any path from it.
func Remove(lab string) error {
	_, err := remove(lab)
	return err
}

// remove is Remove, saying whether there was anything to remove.
func remove(lab string) (bool, error) {
	if err := CheckLabName(lab); err != nil {
		return false, err
	}
	if err := checkStateRoot(); err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, err
	}
	dir := stateDir(lab)
	switch err := checkOwned(dir, true); {
	case errors.Is(err, os.ErrNotExist):
		// No state: namespaces and supervisors a killed run left, if any.
		// A lab's namespaces are made only once its state is in place, so
		// none of these belong to a build still running.
		found, err := removeParts(lab, nil, nil)
		if err == nil && !found {
			err = fmt.Errorf("no lab named %q is up (see lvslab status): %w", lab, os.ErrNotExist)
		}
		return found, err
	case err != nil:
		return false, err
	}
	lock, err := lockExisting(lab, true)
	if err != nil {
		return false, err
	}
	defer lock.release()
	return true, removeLocked(lab, nil)
}

// removeLocked removes a lab whose lock this process holds. With made
// set, only those namespaces are deleted: a build that failed removes
// what it made, never a namespace that was there before it.
func removeLocked(lab string, made []string) error {
	st, err := ReadState(lab)
	if err != nil && !IsCorrupt(err) {
		return err
	}
	if _, err := removeParts(lab, st, made); err != nil {
		return err
	}
	if err := os.RemoveAll(stateDir(lab)); err != nil {
		return fmt.Errorf("remove state of lab %s: %w", lab, err)
	}
	return nil
}

// removeParts stops a lab's supervisors and deletes its namespaces: those
// its state records (only names of the form lvs-<lab>-<node>) and, if
// made is not nil, made by this process; with no readable state, those
// named for the lab on the host. It says whether it found anything.
func removeParts(lab string, st *State, made []string) (bool, error) {
	var errs []error
	procs := labProcesses(lab)
	for _, p := range procs {
		if err := stopProcess(p, lab); err != nil {
			errs = append(errs, fmt.Errorf("stop %s (pid %d) of lab %s: %w", p.Role, p.PID, lab, err))
		}
	}
	var names []string
	if st != nil {
		for _, ns := range st.Namespaces {
			if l, _, ok := parseNamespace(ns); !ok || l != lab {
				errs = append(errs, fmt.Errorf("state of lab %s lists namespace %q, which is not one of its own (lvs-%s-<node>): left alone", lab, ns, lab))
				continue
			}
			if made == nil || slices.Contains(made, ns) {
				names = append(names, ns)
			}
		}
	} else {
		names = hostNamespaces(lab)
	}
	found := len(procs) > 0
	for _, ns := range names {
		if _, err := os.Lstat(filepath.Join(netnsRoot, ns)); err == nil {
			found = true
		}
		if err := deleteNamespace(ns); err != nil {
			errs = append(errs, err)
		}
	}
	return found, errors.Join(errs...)
}

// parseNamespace splits "lvs-<lab>-<node>"; neither name has a dash.
func parseNamespace(ns string) (lab, node string, ok bool) {
	rest, ok := strings.CutPrefix(ns, "lvs-")
	if !ok {
		return "", "", false
	}
	lab, node, ok = strings.Cut(rest, "-")
	if !ok || CheckLabName(lab) != nil || !nameRE.MatchString(node) || len(node) > maxIfName {
		return "", "", false
	}
	return lab, node, true
}

// hostNamespaces lists the namespaces named for a lab under /run/netns
// (every lab's when lab is "").
func hostNamespaces(lab string) []string {
	entries, _ := os.ReadDir(netnsRoot)
	var out []string
	for _, e := range entries {
		if l, _, ok := parseNamespace(e.Name()); ok && (lab == "" || l == lab) {
			out = append(out, e.Name())
		}
	}
	return out
}

// Sweep removes every lab whose name match accepts (every lab when match
// is nil): those recorded in the state root, half-built or corrupt ones
// included, the namespaces named for a lab that has no state, and the
// directories of builds killed before their state was in place. It returns
// the labs it actually removed; the error says which it could not.
func Sweep(match func(lab string) bool) ([]string, error) {
	recorded, err := Labs()
	if err != nil {
		return nil, err
	}
	labs := recorded
	for _, ns := range hostNamespaces("") {
		if l, _, _ := parseNamespace(ns); !slices.Contains(labs, l) {
			labs = append(labs, l)
		}
	}
	var removed []string
	var errs []error
	for _, lab := range labs {
		if match != nil && !match(lab) {
			continue
		}
		found, err := remove(lab)
		if err != nil {
			errs = append(errs, err)
		} else if found {
			removed = append(removed, lab)
		}
	}
	staged, err := sweepStaging(match)
	for _, lab := range staged {
		if !slices.Contains(removed, lab) {
			removed = append(removed, lab)
		}
	}
	errs = append(errs, err)
	if match == nil {
		// Empty once every lab is gone: lvslab made it, so it goes too.
		// Not an error if a lab is being built meanwhile.
		os.Remove(StateRoot)
	}
	return removed, errors.Join(errs...)
}

// sweepStaging removes the staging directories of builds that died before
// renaming them into place (their lock is free), and names their labs.
func sweepStaging(match func(lab string) bool) ([]string, error) {
	dirs, _ := filepath.Glob(filepath.Join(StateRoot, stagingPrefix+"*"))
	var labs []string
	var errs []error
	for _, d := range dirs {
		lab, _, _ := strings.Cut(strings.TrimPrefix(filepath.Base(d), stagingPrefix), "-")
		if CheckLabName(lab) != nil || (match != nil && !match(lab)) || checkOwned(d, true) != nil {
			continue
		}
		lock, err := lockLab(d, true, true, 0)
		if err != nil {
			continue // a build still running, or gone meanwhile
		}
		if err := os.RemoveAll(d); err != nil {
			errs = append(errs, fmt.Errorf("remove %s, left by a build of lab %s that was killed: %w", d, lab, err))
		} else if !slices.Contains(labs, lab) {
			labs = append(labs, lab)
		}
		lock.release()
	}
	return labs, errors.Join(errs...)
}

func deleteNamespace(name string) error {
	path := filepath.Join(netnsRoot, name)
	// EINVAL: not a mount point (a killed build's empty file); EPERM: not
	// root, when removing a live mount below fails with EBUSY anyway.
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EPERM) {
		return fmt.Errorf("unmount namespace %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove namespace %s: %w", path, err)
	}
	return nil
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}
