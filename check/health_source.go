//go:build linux

package check

import (
	"fmt"
	"slices"

	"github.com/lvslab/lvslab/harness"
	"github.com/lvslab/lvslab/harness/keepalived/conf"
)

// vipSourceHint says why a DR or TUN real server's IPv6 checker may fail
// before any fault: with a VIP in the server's prefix on the director
// and not deprecated, the kernel's source choice for the checker's
// connection ties the VIP with the director's own address (RFC 6724 rule
// 8 compares no further than the prefix length) and takes the newer, the
// VIP. The real server holds the VIP on lo and keeps its replies. It is
// "" when the file gives no reason to suspect this.
func vipSourceHint(f *conf.File, c healthCase) string {
	bypass := c.Real.Method == harness.MethodDR || c.Real.Method == harness.MethodTUN
	if !bypass || !c.Real.Addr.Is6() || slices.ContainsFunc(c.Checkers, func(k conf.Checker) bool { return k.BindTo.Set }) {
		return ""
	}
	for _, in := range f.Instances {
		for _, v := range in.VIPs {
			i := slices.Index(v.Options, "preferred_lft")
			deprecated := i >= 0 && i+1 < len(v.Options) && v.Options[i+1] == "0"
			if v.Prefix.Addr().Is6() && v.Prefix.Contains(c.Real.Addr) && !deprecated {
				return fmt.Sprintf("; the VIP %s (%s) shares the real server's prefix and is not deprecated: the director's checker likely connects from it, and the real server keeps its replies on lo (give the VIP preferred_lft 0, or the checker bindto)",
					v.Prefix, v.Pos)
			}
		}
	}
	return ""
}
