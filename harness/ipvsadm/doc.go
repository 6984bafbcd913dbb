// Package ipvsadm owns ipvsadm's rule format: reading what "ipvsadm -S -n"
// (and ipvsadm-save -n) writes and any other ipvsadm -R input, every rule
// with its line, into a Table of harness.Service and harness.Real;
// writing a Table back in that format; comparing two tables; a
// deterministic Kubernetes-sized table for tests (Synthetic); and loading
// a Table into a director's IPVS (Restore).
//
// The grammar, its defaults and its checks follow ipvsadm 1.31
// (ipvsadm.c, ipvsadm(8)), so that a file this package accepts is one
// ipvsadm-restore accepts too. Parsing, writing and comparing are pure and
// need no root; Restore needs a director built by package harness and
// must not create namespaces or links, nor touch anything but the
// director's IPVS table.
package ipvsadm
