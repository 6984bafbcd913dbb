//go:build linux

package vm

import (
	"context"
	"errors"
)

// KernelChoice is which kernels lvslab vm boots: one of a list, every one
// of it, or a build of the user's own.
type KernelChoice struct {
	// List is the kernel list file ("" for the shipped one); Name a
	// kernel of it ("" for its default); All every kernel of it.
	List, Name string
	All        bool
	// Image and Modules are a build of the user's own instead.
	Image, Modules string
}

// Resolve checks the choice, naming every conflict, and returns the
// user's build or the list's kernels to fetch; nothing is fetched yet.
func (c KernelChoice) Resolve() (custom *Kernel, listed []KernelSpec, err error) {
	var errs []error
	if c.Image != "" && (c.Name != "" || c.All || c.List != "") {
		errs = append(errs, errors.New("--kernel-image boots your own kernel: leave out --kernel, --kernels and --matrix"))
	}
	if c.Name != "" && c.All {
		errs = append(errs, errors.New("--matrix runs every kernel of the list: leave out --kernel"))
	}
	switch {
	case c.Image != "":
		custom, err = CustomKernel(c.Image, c.Modules)
	case c.Modules != "":
		err = errors.New("--modules goes with --kernel-image")
	default:
		var l *KernelList
		if l, err = LoadKernels(c.List); err == nil {
			listed, err = l.Select(c.Name, c.All)
		}
	}
	return custom, listed, errors.Join(append(errs, err)...)
}

// Fetch fetches the chosen kernels into the cache, or finds them there,
// after Resolve checked the choice.
func (c KernelChoice) Fetch(ctx context.Context, log func(string)) ([]*Kernel, error) {
	custom, listed, err := c.Resolve()
	if err != nil {
		return nil, err
	}
	if custom != nil {
		return []*Kernel{custom}, nil
	}
	var kernels []*Kernel
	for _, s := range listed {
		k, err := Fetch(ctx, s, FetchOptions{Log: log})
		if err != nil {
			return nil, err
		}
		kernels = append(kernels, k)
	}
	return kernels, nil
}

// CheckRun checks every input of lvslab vm before a kernel is fetched or
// booted: the run's options (fetching only: that no command was given)
// and the kernel choice, naming everything wrong at once.
func CheckRun(opts *Options, choice KernelChoice, fetchOnly bool) error {
	var errs []error
	if fetchOnly {
		if len(opts.Argv) > 0 {
			errs = append(errs, errors.New("--fetch takes no command"))
		}
	} else if err := opts.Check(); err != nil {
		errs = append(errs, err)
	}
	if _, _, err := choice.Resolve(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
