// Package guard is what every lvslab suite checks around its specs: that
// it runs as root, and that the host is left as found: none of the suite's
// own lab namespaces, state or lvslab processes, and the root namespace's
// links, addresses, routes and nftables ruleset unchanged. It only reads
// the root namespace, never changes it, and removes only labs of the
// suite's own names.
//
// Linux only, as the labs it guards: every file but this one is built for
// linux alone.
package guard
