// Package suites holds the Ginkgo suites users run as root in CI:
// suites/lab (the lab itself, no IPVS needed) and suites/ipvs (a real
// kernel IPVS director; run on a host with ip_vs or through "lvslab vm").
// Package guard checks that every spec leaves the host as it found it.
package suites
