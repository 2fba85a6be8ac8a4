package fetch

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestAllowPatterns(t *testing.T) {
	tests := []struct {
		pattern string
		url     string
		ok      bool
	}{
		{"api.example.com", "https://api.example.com/x", true},
		{"api.example.com", "http://API.Example.com:8080/x", true}, // any port when none is given
		{"api.example.com", "https://example.com/", false},
		{"api.example.com", "https://evil.api.example.com/", false},
		{"*.internal:8443", "https://db.internal:8443/", true},
		{"*.internal:8443", "https://a.b.internal:8443/", true},
		{"*.internal:8443", "https://db.internal/", false}, // 443
		{"*.internal:8443", "https://internal:8443/", false},
		{"example.com:443", "https://example.com/", true},
		{"example.com:80", "http://example.com/", true},
		{"[::1]:8080", "http://[::1]:8080/", true},
		{"127.0.0.1", "http://127.0.0.1:9/", true},
	}
	for _, tt := range tests {
		c, err := New(Options{Allow: []string{tt.pattern}})
		if err != nil {
			t.Fatalf("%s: %v", tt.pattern, err)
		}
		u, _ := url.Parse(tt.url)
		if err := c.allowed(u); (err == nil) != tt.ok {
			t.Errorf("allow %q, %s: err = %v, want ok=%v", tt.pattern, tt.url, err, tt.ok)
		}
	}
	for _, bad := range []string{"", "https://example.com", "example.com/path", "ex*ample.com", "*.", "example.com:0", "example.com:http"} {
		if _, err := New(Options{Allow: []string{"ok.com", bad}}); err == nil || !strings.Contains(err.Error(), "fetch.allow[1]") {
			t.Errorf("pattern %q: err = %v", bad, err)
		}
	}
}

// TestConcurrencyCap: no more than MaxConcurrent requests of one Client
// reach the upstream at once.
func TestConcurrencyCap(t *testing.T) {
	var inFlight, peak atomic.Int64
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		<-release
		inFlight.Add(-1)
	}))
	defer srv.Close()
	c, err := New(Options{MaxConcurrent: 3})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Do(context.Background(), Request{URL: srv.URL}); err != nil {
				t.Error(err)
			}
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for inFlight.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if p := peak.Load(); p != 3 {
		t.Errorf("peak concurrent requests = %d, want 3", p)
	}
}

// TestLastModifiedRevalidation: without an ETag, Last-Modified is sent back
// as If-Modified-Since; the remembered body is a copy the caller may keep.
func TestLastModifiedRevalidation(t *testing.T) {
	var conditional atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		const lm = "Mon, 02 Jan 2006 15:04:05 GMT"
		if r.Header.Get("If-Modified-Since") == lm {
			conditional.Add(1)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Last-Modified", lm)
		w.Write([]byte("body"))
	}))
	defer srv.Close()
	c, _ := New(Options{})
	r1, err := c.Do(context.Background(), Request{URL: srv.URL})
	if err != nil || string(r1.Body) != "body" || r1.Revalidated {
		t.Fatalf("first: %+v %v", r1, err)
	}
	r2, err := c.Do(context.Background(), Request{URL: srv.URL})
	if err != nil || string(r2.Body) != "body" || !r2.Revalidated || r2.Status != 200 || conditional.Load() != 1 {
		t.Fatalf("second: %+v %v (conditional %d)", r2, err, conditional.Load())
	}
	// Another Authorization is another entry: no validator is sent for it.
	_, err = c.Do(context.Background(), Request{URL: srv.URL, Header: [][2]string{{"Authorization", "Bearer other"}}})
	if err != nil || conditional.Load() != 1 {
		t.Fatalf("other credentials revalidated the first's entry: %v %d", err, conditional.Load())
	}
}
