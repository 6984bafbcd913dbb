//go:build !linux

package main

import (
	"fmt"
	"os"
	"runtime"
)

func main() {
	fmt.Fprintf(os.Stderr, "lvslab runs on Linux only (network namespaces, netlink, IPVS); this build is for %s\n", runtime.GOOS)
	os.Exit(1)
}
