//go:build linux

package check

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"time"
)

// A checker starts its next timer only once an attempt is over, so a
// chain of attempts is late by each attempt's own time as well as by
// each timer's lateness. Under emulation an HTTP check takes a good part
// of a second; the lab measures what one takes from the judging
// director, while the server is healthy, and allows it per attempt.

// probeTries is how many checks the lab times: the slowest counts.
const probeTries = 3

// checkDuration is the longest of a few checks like the case's first
// checker makes (a TCP connect, an HTTP or HTTPS GET of its first URL)
// from the director that judges it, with the words that say so; zero for
// checkers the lab does not time (their attempts are a script or a
// datagram).
func (e *env) checkDuration(c judged) (time.Duration, string) {
	if len(c.Checkers) == 0 || c.Target.Proto != "tcp" || c.Checkers[0].Kind == "MISC_CHECK" {
		return 0, ""
	}
	ch := c.Checkers[0]
	n := e.lab.Node(c.holder)
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		return n.Dial(ctx, "tcp", netip.Addr{}, c.Target.Addr)
	}
	what := "a TCP connect to " + c.Target.Addr.String()
	try := func(ctx context.Context) error {
		conn, err := dial(ctx, "", "")
		if err == nil {
			conn.Close()
		}
		return err
	}
	if len(ch.URLs) > 0 {
		scheme := "http"
		if ch.Kind == "SSL_GET" {
			scheme = "https"
		}
		url := fmt.Sprintf("%s://%s%s", scheme, c.Target.Addr, ch.URLs[0].Path.Value)
		// Like keepalived's checker: a fresh connection each time, and no
		// certificate check.
		client := &http.Client{Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true,
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
		what = "a GET of " + url
		try = func(ctx context.Context) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return err
			}
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
			return resp.Body.Close()
		}
	}
	var worst time.Duration
	for range probeTries {
		ctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
		t0 := time.Now()
		err := try(ctx)
		took := time.Since(t0)
		cancel()
		if err != nil {
			return 0, ""
		}
		worst = max(worst, took)
	}
	return worst, fmt.Sprintf("%s from %s took up to %s here", what, e.nodeName(c.holder), roundMs(worst))
}
