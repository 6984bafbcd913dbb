// Package labtest makes an lvslab spec short: one call runs a suite (root,
// label filter, per-process lab names, the host guard), one builds a lab
// with its director for the current spec or container, and a few more send
// counted load, read settled IPVS counters, make a single request or ask a
// UDP echo.
//
// Every resource it makes is released with DeferCleanup. It builds labs
// only under names that start with this process's prefix, so suites and
// parallel processes (ginkgo -p) never share one, and a user's own labs
// are left alone.
//
// Linux only, as the labs it builds: every file but this one is built for
// linux alone.
package labtest
