// Package fetch is the HTTP client behind a data source's fetch(): one
// transport shared by every source (keep-alive connections, gzip and brotli
// decoded here), and per source a Client with a cap on concurrent requests,
// bounded redirects, a body size cap, an optional host allowlist and
// conditional revalidation for free (the last ETag/Last-Modified and body
// of each URL are kept, so an unchanged upstream costs one 304).
//
// fetch never runs JavaScript and never retries: a source is evaluated once
// per period, and that is the retry. engine/jsvm binds a Client to fetch().
package fetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
)

// Defaults for Options.
const (
	DefaultMaxBody       = 8 << 20
	DefaultMaxConcurrent = 8
	// MaxRedirects is how many redirects a request follows, as in browsers.
	MaxRedirects = 20
	// maxCached bounds the URLs a Client remembers for revalidation.
	maxCached = 256
)

// transport is shared by every Client of the process, so connections to an
// upstream are kept alive across periods and sources. It does not ask for
// compression itself: Do does, to decode brotli too and to cap the decoded
// size.
var transport = &http.Transport{
	Proxy:                 http.ProxyFromEnvironment,
	DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
	ForceAttemptHTTP2:     true,
	MaxIdleConns:          256,
	MaxIdleConnsPerHost:   16,
	IdleConnTimeout:       90 * time.Second,
	TLSHandshakeTimeout:   10 * time.Second,
	ExpectContinueTimeout: time.Second,
	DisableCompression:    true,
}

// Options configure a Client (one per source).
type Options struct {
	MaxBody       int64    // largest decoded response body in bytes; default DefaultMaxBody
	MaxConcurrent int      // requests in flight at once; default DefaultMaxConcurrent
	Allow         []string // host patterns a request may reach ("api.example.com", "*.internal:8443"); empty: any
	UserAgent     string   // sent when the request sets none
}

// Request is one fetch() call.
type Request struct {
	URL      string
	Method   string      // default GET
	Header   [][2]string // in the author's order; names as written
	Body     []byte      // nil: none
	Redirect string      // "follow" (default), "manual" or "error"
	NoCache  bool        // cache: "no-store": neither revalidate nor remember
}

// Response is what came back. Header names are lower case, in the order
// received.
type Response struct {
	Status      int
	StatusText  string
	URL         string // the final URL, after redirects
	Redirected  bool
	Header      [][2]string
	Body        []byte
	Revalidated bool // the upstream answered 304 and Body is the remembered one
}

// Client sends one source's requests.
//
// Threading: Do may be called from any number of goroutines at once.
type Client struct {
	opt   Options
	allow []pattern
	hc    *http.Client
	sem   chan struct{}

	mu    sync.Mutex
	cache map[string]*cached // revalidation key → last 200 with a validator
	order []string           // cache keys, oldest first, for eviction
}

// cached is a remembered response and its validators.
type cached struct {
	etag, modified string
	url            string
	redirected     bool
	header         [][2]string
	body           []byte
}

// New returns a Client. A malformed Allow pattern is an error naming it and
// the key fetch.allow.
func New(opt Options) (*Client, error) {
	if opt.MaxBody <= 0 {
		opt.MaxBody = DefaultMaxBody
	}
	if opt.MaxConcurrent <= 0 {
		opt.MaxConcurrent = DefaultMaxConcurrent
	}
	c := &Client{opt: opt, sem: make(chan struct{}, opt.MaxConcurrent), cache: map[string]*cached{}}
	for i, a := range opt.Allow {
		p, err := parsePattern(a)
		if err != nil {
			return nil, fmt.Errorf("fetch.allow[%d]: %w", i, err)
		}
		c.allow = append(c.allow, p)
	}
	c.hc = &http.Client{Transport: transport, CheckRedirect: c.checkRedirect}
	return c, nil
}

// redirectMode carries a request's redirect mode to CheckRedirect.
type redirectMode struct{}

func (c *Client) checkRedirect(req *http.Request, via []*http.Request) error {
	switch req.Context().Value(redirectMode{}) {
	case "manual":
		return http.ErrUseLastResponse
	case "error":
		return fmt.Errorf("redirected to %s, and the request says redirect: \"error\"", req.URL.Redacted())
	}
	if len(via) >= MaxRedirects {
		return fmt.Errorf("stopped after %d redirects", MaxRedirects)
	}
	return c.allowed(req.URL)
}

// Error is a request that did not get a response: a network error, a
// refusal, a timeout or a cancellation. Its message names the URL.
type Error struct {
	URL string
	Err error
}

func (e *Error) Error() string { return "fetch " + e.URL + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// ErrNotAllowed is wrapped by refusals of the allowlist.
var ErrNotAllowed = errors.New("host not allowed")

// Do sends req and reads the whole response (decoded, at most MaxBody
// bytes). HTTP error statuses are responses; everything else that goes
// wrong is an *Error. ctx bounds the whole request, body included.
func (c *Client) Do(ctx context.Context, req Request) (*Response, error) {
	fail := func(err error) (*Response, error) { return nil, &Error{URL: req.URL, Err: err} }
	u, err := url.Parse(req.URL)
	if err != nil {
		return fail(fmt.Errorf("not a URL: %w", unwrapURL(err)))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fail(fmt.Errorf("only http and https URLs can be fetched, not %q", u.Scheme+":"))
	}
	if u.Host == "" {
		return fail(errors.New("the URL names no host"))
	}
	if err := c.allowed(u); err != nil {
		return fail(err)
	}
	method := strings.ToUpper(req.Method)
	if method == "" {
		method = http.MethodGet
	}
	if req.Redirect != "" && req.Redirect != "follow" {
		ctx = context.WithValue(ctx, redirectMode{}, req.Redirect)
	}
	var body io.Reader
	if req.Body != nil {
		if method == http.MethodGet || method == http.MethodHead {
			return fail(fmt.Errorf("a %s request cannot have a body", method))
		}
		body = bytes.NewReader(req.Body)
	}
	hr, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return fail(err)
	}
	for _, h := range req.Header {
		if strings.EqualFold(h[0], "Accept-Encoding") || strings.EqualFold(h[0], "Host") || strings.EqualFold(h[0], "Content-Length") {
			continue // the client owns these, as a browser does
		}
		hr.Header.Add(h[0], h[1])
	}
	hr.Header.Set("Accept-Encoding", "gzip, br")
	if hr.Header.Get("User-Agent") == "" && c.opt.UserAgent != "" {
		hr.Header.Set("User-Agent", c.opt.UserAgent)
	}

	key := ""
	if (method == http.MethodGet || method == http.MethodHead) && !req.NoCache &&
		hr.Header.Get("If-None-Match") == "" && hr.Header.Get("If-Modified-Since") == "" && req.Redirect != "manual" {
		key = cacheKey(method, u.String(), hr.Header)
	}
	var prev *cached
	if key != "" {
		c.mu.Lock()
		prev = c.cache[key]
		c.mu.Unlock()
		if prev != nil {
			if prev.etag != "" {
				hr.Header.Set("If-None-Match", prev.etag)
			}
			if prev.modified != "" {
				hr.Header.Set("If-Modified-Since", prev.modified)
			}
		}
	}

	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return fail(context.Cause(ctx))
	}
	defer func() { <-c.sem }()

	resp, err := c.hc.Do(hr)
	if err != nil {
		if ctx.Err() != nil {
			return fail(context.Cause(ctx))
		}
		return fail(unwrapURL(err))
	}
	defer resp.Body.Close()
	out := &Response{
		Status:     resp.StatusCode,
		StatusText: statusText(resp),
		URL:        resp.Request.URL.String(),
		Redirected: resp.Request.URL.String() != u.String(),
		Header:     headerList(resp.Header),
	}
	if prev != nil && resp.StatusCode == http.StatusNotModified {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // keep the connection reusable
		out.Status, out.StatusText = http.StatusOK, "OK"
		out.URL, out.Redirected = prev.url, prev.redirected
		out.Header = prev.header
		out.Body = append([]byte(nil), prev.body...) // the caller may change its copy
		out.Revalidated = true
		return out, nil
	}
	if method == http.MethodHead {
		return out, nil
	}
	if out.Body, err = c.readBody(resp); err != nil {
		if ctx.Err() != nil {
			return fail(context.Cause(ctx))
		}
		return fail(err)
	}
	if key != "" {
		c.remember(key, resp, out)
	}
	return out, nil
}

// readBody reads resp's body, decoding gzip and brotli, up to MaxBody
// decoded bytes.
func (c *Client) readBody(resp *http.Response) ([]byte, error) {
	var r io.Reader = resp.Body
	switch strings.ToLower(strings.TrimSpace(resp.Header.Get("Content-Encoding"))) {
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			return nil, fmt.Errorf("reading the gzip response: %w", err)
		}
		defer zr.Close()
		r = zr
	case "br":
		r = brotli.NewReader(resp.Body)
	}
	max := c.opt.MaxBody
	var buf bytes.Buffer
	if n := resp.ContentLength; n > 0 && n <= max && r == resp.Body {
		buf.Grow(int(n))
	}
	n, err := buf.ReadFrom(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("reading the response: %w", unwrapURL(err))
	}
	if n > max {
		return nil, fmt.Errorf("the response body is larger than fetch.max_body (%d bytes)", max)
	}
	return buf.Bytes(), nil
}

// remember keeps a 200 with a validator for revalidation, and forgets the
// URL otherwise.
func (c *Client) remember(key string, resp *http.Response, out *Response) {
	etag := resp.Header.Get("ETag")
	modified := resp.Header.Get("Last-Modified")
	keep := resp.StatusCode == http.StatusOK && (etag != "" || modified != "") &&
		!strings.Contains(strings.ToLower(resp.Header.Get("Cache-Control")), "no-store")
	c.mu.Lock()
	defer c.mu.Unlock()
	if !keep {
		if _, ok := c.cache[key]; ok {
			delete(c.cache, key)
			c.order = deleteString(c.order, key)
		}
		return
	}
	if _, ok := c.cache[key]; !ok {
		c.order = append(c.order, key)
		for len(c.order) > maxCached {
			delete(c.cache, c.order[0])
			c.order = c.order[1:]
		}
	}
	c.cache[key] = &cached{etag: etag, modified: modified, url: out.URL, redirected: out.Redirected, header: out.Header, body: out.Body}
}

func deleteString(ss []string, s string) []string {
	for i, x := range ss {
		if x == s {
			return append(ss[:i], ss[i+1:]...)
		}
	}
	return ss
}

// cacheKey identifies a revalidatable request: method, URL and the request
// headers (the same URL asked with another Authorization is another
// entry).
func cacheKey(method, u string, h http.Header) string {
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString(method)
	b.WriteByte(' ')
	b.WriteString(u)
	for _, k := range names {
		b.WriteByte('\n')
		b.WriteString(k)
		b.WriteByte(':')
		b.WriteString(strings.Join(h[k], ","))
	}
	return b.String()
}

// headerList returns h as lower-case name/value pairs, sorted by name (Go's
// header map has no order).
func headerList(h http.Header) [][2]string {
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	sort.Strings(names)
	var out [][2]string
	for _, k := range names {
		lk := strings.ToLower(k)
		for _, v := range h[k] {
			out = append(out, [2]string{lk, v})
		}
	}
	return out
}

func statusText(resp *http.Response) string {
	// resp.Status is "200 OK"; keep the server's reason phrase.
	if _, text, ok := strings.Cut(resp.Status, " "); ok {
		return text
	}
	return http.StatusText(resp.StatusCode)
}

// unwrapURL drops net/http's `Get "http://…": ` prefix: Error names the URL
// already.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// allowed checks u's host against the allowlist.
func (c *Client) allowed(u *url.URL) error {
	if len(c.allow) == 0 {
		return nil
	}
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	for _, p := range c.allow {
		if p.match(host, port) {
			return nil
		}
	}
	hp := host
	if strings.Contains(hp, ":") {
		hp = "[" + hp + "]"
	}
	if u.Port() != "" {
		hp += ":" + u.Port()
	}
	return fmt.Errorf("%w: %s is not listed in fetch.allow (jawas.toml: [fetch] allow = [...])", ErrNotAllowed, strconv.Quote(hp))
}

// pattern is one fetch.allow entry: a host, or "*." and a domain (any
// subdomain of it), with an optional port (any port when absent).
type pattern struct {
	host     string // lower case, without "*."
	wildcard bool
	port     string
}

// parsePattern parses a fetch.allow entry.
func parsePattern(s string) (pattern, error) {
	var p pattern
	in := strings.TrimSpace(strings.ToLower(s))
	if in == "" || strings.Contains(in, "/") {
		return p, fmt.Errorf("%q is not a host: write a host such as \"api.example.com\", \"*.example.com\" or \"10.0.0.7:8443\", without scheme or path", s)
	}
	host, port := in, ""
	if strings.HasPrefix(in, "[") { // [::1]:8080
		end := strings.Index(in, "]")
		if end < 0 {
			return p, fmt.Errorf("%q: unclosed [ in an IPv6 address", s)
		}
		host, port = in[1:end], strings.TrimPrefix(in[end+1:], ":")
	} else if i := strings.LastIndex(in, ":"); i >= 0 {
		host, port = in[:i], in[i+1:]
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return p, fmt.Errorf("%q: port %q is not a number from 1 to 65535", s, port)
		}
	}
	if strings.HasPrefix(host, "*.") {
		p.wildcard, host = true, host[2:]
	}
	if host == "" || strings.Contains(host, "*") {
		return p, fmt.Errorf("%q: a wildcard may only be a leading \"*.\"", s)
	}
	p.host, p.port = host, port
	return p, nil
}

func (p pattern) match(host, port string) bool {
	if p.port != "" && p.port != port {
		return false
	}
	if p.wildcard {
		return strings.HasSuffix(host, "."+p.host)
	}
	return host == p.host
}
