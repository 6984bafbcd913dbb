// Command lvslab builds Linux Virtual Server labs from network namespaces,
// loads them and tears them down. Run "lvslab help" for the subcommands.
//
// lvslab runs on Linux only (network namespaces, netlink, IPVS): built for
// another GOOS it is a program that says so and exits 1 (main_other.go).
package main
