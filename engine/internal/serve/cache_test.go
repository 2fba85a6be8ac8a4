//go:build linux

package serve

import (
	"regexp"
	"strconv"
	"testing"
	"time"
)

// TestCachePolicy: Cache-Control per period under the default contract and
// under a CDN policy (s-maxage, stale-while-revalidate, stale-if-error
// derived from the period), without allocating; a stale answer carries Age.
func TestCachePolicy(t *testing.T) {
	l, c, store := inProcess(t)
	cc := func(path string) string {
		t.Helper()
		hdr, _ := step(t, l, c, []byte("GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n"))
		return headerValue(hdr, "Cache-Control")
	}
	// /slow.json has a 5 s period: max-age is the whole seconds left, 0..4
	// (0 at a boundary the engine has not committed yet).
	for _, tc := range []struct {
		name       string
		pol        CachePolicy
		clock, slo string // regexps
	}{
		{"default", CachePolicy{}, `^no-cache$`, `^public, max-age=[0-4], must-revalidate$`},
		{"cdn", CachePolicy{StaleWhileRevalidate: Span{Periods: 1}, StaleIfError: Span{Periods: 10}},
			`^no-cache, stale-if-error=2$`, `^public, max-age=([0-4]), s-maxage=([0-4]), stale-while-revalidate=5, stale-if-error=50$`},
		{"bounded sub-second", CachePolicy{SMaxage: time.Second, StaleIfError: Span{Duration: 30 * time.Second}},
			`^public, max-age=0, s-maxage=1, stale-if-error=30$`, `^public, max-age=[0-4], s-maxage=[0-4], stale-if-error=30$`},
		{"spans under a second left out", CachePolicy{StaleWhileRevalidate: Span{Duration: 999 * time.Millisecond}},
			`^no-cache$`, `^public, max-age=[0-4], s-maxage=[0-4], must-revalidate$`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l.s.opt.Cache = tc.pol
			if got := cc("/clock.json"); !regexp.MustCompile(tc.clock).MatchString(got) {
				t.Errorf("200ms period: %q, want %s", got, tc.clock)
			}
			got := cc("/slow.json")
			m := regexp.MustCompile(tc.slo).FindStringSubmatch(got)
			if m == nil || (len(m) == 3 && m[1] != m[2]) {
				t.Errorf("5s period: %q, want %s with s-maxage = max-age", got, tc.slo)
			}
			raw := []byte("GET /slow.json HTTP/1.1\r\nHost: x\r\n\r\n")
			if a := testing.AllocsPerRun(100, func() { step(t, l, c, raw) }); a != 0 {
				t.Errorf("%v allocations per request", a)
			}
		})
	}

	// The engine stops beating: the answer says how old the body is.
	hdr, _ := step(t, l, c, []byte("GET /slow.json HTTP/1.1\r\nHost: x\r\n\r\n"))
	if headerValue(hdr, "Age") != "" {
		t.Fatalf("fresh answer with Age: %q", hdr)
	}
	store.Heartbeat(time.Now().Add(-20 * time.Second))
	hdr, _ = step(t, l, c, []byte("GET /slow.json HTTP/1.1\r\nHost: x\r\n\r\n"))
	age, err := strconv.Atoi(headerValue(hdr, "Age"))
	if err != nil || age < 20 || age > 30 || headerValue(hdr, "X-Jawas-Stale") == "" {
		t.Fatalf("stale answer: Age %q, X-Jawas-Stale %q", headerValue(hdr, "Age"), headerValue(hdr, "X-Jawas-Stale"))
	}
	if got := headerValue(hdr, "Cache-Control"); !regexp.MustCompile(`max-age=0\b`).MatchString(got) {
		t.Fatalf("stale answer: Cache-Control %q, want max-age=0", got)
	}
}
