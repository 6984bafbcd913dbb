//go:build linux

package main

import "runtime/debug"

// buildVersion is set by the Makefile (git describe --dirty), which says
// more than the VCS revision a plain go build records.
var buildVersion string

// version is the version the build was given, the module version, or the
// VCS revision of a source build.
func version() string {
	if buildVersion != "" {
		return buildVersion
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" {
			return s.Value
		}
	}
	return info.Main.Version
}
