// Package suites holds the Ginkgo suites users run as root in CI:
// suites/lab (the lab itself, no IPVS needed) and suites/ipvs (a real
// kernel IPVS director; run on a host with ip_vs or through "lvslab vm").
// suites/guard checks that every spec leaves the host as it found it and
// suites/internal/labtest is the specs' kit; suites/junit adds up their
// reports. Everything here but junit is built for linux alone.
package suites
