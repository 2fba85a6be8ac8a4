//go:build linux

package serve

import (
	"bufio"
	"bytes"
	"context"
	"github.com/jawas/jawas/engine"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/jawas/jawas/engine/internal/metrics"
)

// scrape fetches /_jawas/metrics and parses it with the Prometheus parser.
func scrape(t *testing.T, f *fixture) map[string]*dto.MetricFamily {
	t.Helper()
	c := f.dial()
	resp, body := roundTrip(t, c, bufio.NewReader(c), get("/_jawas/metrics"))
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("metrics: %d %v\n%s", resp.StatusCode, resp.Header, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse metrics: %v\n%s", err, body)
	}
	return mfs
}

// value returns the value of the sample of family name whose labels
// include want (pairs), or -1 when there is none.
func value(mfs map[string]*dto.MetricFamily, name string, want ...string) float64 {
	mf := mfs[name]
	if mf == nil {
		return -1
	}
next:
	for _, m := range mf.Metric {
		got := map[string]string{}
		for _, l := range m.Label {
			got[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(want); i += 2 {
			if got[want[i]] != want[i+1] {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

func TestMetricsMoveWithRequests(t *testing.T) {
	mdir := t.TempDir()
	f := start(t, func(o *Options) { o.Admin.MetricsDir = mdir })
	before := scrape(t, f)
	ok0 := value(before, "jawas_http_requests_total", "kind", "snapshot", "class", "2xx")
	nm0 := value(before, "jawas_http_not_modified_total")
	bytes0 := value(before, "jawas_http_response_bytes_total")
	if ok0 != 0 || nm0 != 0 {
		t.Fatalf("fresh server: snapshot 2xx %v, 304 %v", ok0, nm0)
	}

	c := f.dial()
	br := bufio.NewReader(c)
	var etag string
	for i := 0; i < 5; i++ {
		resp, _ := roundTrip(t, c, br, get("/clock.json"))
		etag = resp.Header.Get("ETag")
	}
	roundTrip(t, c, br, get("/clock.json", "If-None-Match: "+etag+"\r\n"))
	roundTrip(t, c, br, get("/nope.json"))
	roundTrip(t, c, br, get("/app.js"))
	roundTrip(t, c, br, get("/about"))

	after := scrape(t, f)
	for _, tc := range []struct {
		labels []string
		want   float64
	}{
		{[]string{"kind", "snapshot", "class", "2xx"}, 5},
		{[]string{"kind", "snapshot", "class", "3xx"}, 1},
		{[]string{"kind", "other", "class", "4xx"}, 1},
		{[]string{"kind", "site", "class", "2xx"}, 1},
		{[]string{"kind", "page", "class", "2xx"}, 1},
		{[]string{"kind", "admin", "class", "2xx"}, 1}, // the first scrape
	} {
		if got := value(after, "jawas_http_requests_total", tc.labels...); got != tc.want {
			t.Errorf("requests %v = %v, want %v", tc.labels, got, tc.want)
		}
	}
	if got := value(after, "jawas_http_not_modified_total"); got != 1 {
		t.Errorf("304s = %v, want 1", got)
	}
	if got := value(after, "jawas_http_response_bytes_total"); got < bytes0+5*float64(len(clockBody)) {
		t.Errorf("bytes out %v, want at least %v more than %v", got, 5*len(clockBody), bytes0)
	}
	if got := value(after, "jawas_http_connections_open"); got < 2 {
		t.Errorf("open connections %v, want at least the 2 test connections", got)
	}
	if got := value(after, "jawas_http_connections_accepted_total"); got < 3 {
		t.Errorf("accepted %v, want >= 3", got)
	}
	// The counters are files: another process (here: a fresh read) sees them.
	tot, err := metrics.SumServe(mdir)
	if err != nil || tot.Loops != 2 || tot.Requests[metrics.KindSnapshot][1] != 5 {
		t.Fatalf("counters files: %+v %v", tot, err)
	}
}

// dialFrom connects to f from local address ip (127.0.0.2 is loopback too,
// but not in a 127.0.0.1/32 allowlist).
func dialFrom(t *testing.T, f *fixture, ip string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c
}

func TestAdminAccess(t *testing.T) {
	f := start(t, func(o *Options) {
		o.Admin.Networks = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
		o.Admin.Token = "s3cret"
	})
	publish(t, f.store, "/_jawas/client.js", []byte("export {}"), "text/javascript", time.Second)
	for _, tc := range []struct {
		from, path, auth string
		want             int
	}{
		{"127.0.0.1", "/_jawas/status.json", "", 200},
		{"127.0.0.1", "/_jawas/metrics", "", 200},
		{"127.0.0.2", "/_jawas/status.json", "", 403},
		{"127.0.0.2", "/_jawas/status", "", 403},
		{"127.0.0.2", "/_jawas/metrics", "", 403},
		{"127.0.0.2", "/_jawas/health", "", 403},
		{"127.0.0.2", "/_jawas/metrics", "Authorization: Bearer wrong\r\n", 403},
		{"127.0.0.2", "/_jawas/metrics", "Authorization: Bearer s3cret\r\n", 200},
		{"127.0.0.2", "/_jawas/client.js", "", 200}, // the client library is public
		{"127.0.0.2", "/clock.json", "", 200},
	} {
		c := dialFrom(t, f, tc.from)
		resp, body := roundTrip(t, c, bufio.NewReader(c), get(tc.path, tc.auth))
		if resp.StatusCode != tc.want {
			t.Errorf("%s from %s (%q): %d, want %d: %s", tc.path, tc.from, tc.auth, resp.StatusCode, tc.want, body)
		}
	}
	mfs := scrape(t, f)
	if got := value(mfs, "jawas_admin_denied_total"); got != 5 {
		t.Errorf("admin denied = %v, want 5", got)
	}
}

func TestAdminDefaultIsLoopbackOnly(t *testing.T) {
	f := start(t, nil)
	c := dialFrom(t, f, "127.0.0.2") // loopback: allowed by default
	if resp, body := roundTrip(t, c, bufio.NewReader(c), get("/_jawas/status.json")); resp.StatusCode != 200 {
		t.Fatalf("loopback client: %d %s", resp.StatusCode, body)
	}
}

// TestHealth drives the engine status file as the engine does and checks
// /_jawas/health follows it.
func TestHealth(t *testing.T) {
	mdir := t.TempDir()
	f := start(t, func(o *Options) { o.Admin.MetricsDir = mdir; o.Admin.HealthMaxMissed = 5 })
	health := func() (int, string) {
		c := f.dial()
		resp, body := roundTrip(t, c, bufio.NewReader(c), get("/_jawas/health"))
		return resp.StatusCode, string(body)
	}
	if code, body := health(); code != 503 {
		t.Fatalf("before the engine published: %d %s", code, body)
	}
	rec, err := metrics.NewRecorder(mdir)
	must(t, err)
	now := time.Now()
	src := metrics.SourceStatus{SourceStatus: engine.SourceStatus{Name: "clock", URL: "/clock.json", PeriodMs: 200, LastPublish: now, Evaluations: 1, EvalMicros: 300}}
	must(t, rec.Record(now, []metrics.SourceStatus{src}))
	if code, body := health(); code != 200 {
		t.Fatalf("after a publish: %d %s", code, body)
	}
	// The source keeps failing: evaluations go on, nothing is published.
	src.LastPublish = now.Add(-2 * time.Second)
	src.Evaluations, src.Errors = 11, 10
	must(t, rec.Record(now, []metrics.SourceStatus{src}))
	if code, body := health(); code != 503 || !strings.Contains(body, "no snapshot published") {
		t.Fatalf("after 10 failed periods: %d %s", code, body)
	}
	// The status page shows the source and its evaluation histogram.
	c := f.dial()
	resp, body := roundTrip(t, c, bufio.NewReader(c), get("/_jawas/status", "Accept: text/html\r\n"))
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" || !bytes.Contains(body, []byte("UNHEALTHY")) {
		t.Fatalf("status page: %d %v\n%s", resp.StatusCode, resp.Header, body)
	}
	mfs := scrape(t, f)
	if got := value(mfs, "jawas_source_evaluation_seconds", "source", "clock"); got != 11 {
		t.Fatalf("evaluation histogram count %v, want 11", got)
	}
	if got := value(mfs, "jawas_source_errors_total", "source", "clock"); got != 10 {
		t.Fatalf("errors %v, want 10", got)
	}
}

var combined = regexp.MustCompile(`^127\.0\.0\.1 - - \[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000\] "(GET|POST) (\S+) HTTP/1\.1" (\d{3}) (\d+|-) "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)"$`)

func TestAccessLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	al, err := OpenAccessLog(path, nil)
	must(t, err)
	f := start(t, func(o *Options) {
		o.AccessLog = al
		o.Write = func(w Write, done Done) { go done.Answer(WriteResult{Status: 202}) }
	})
	c := f.dial()
	br := bufio.NewReader(c)
	roundTrip(t, c, br, get("/clock.json", "User-Agent: test \"agent\"\r\nReferer: http://r/\r\n"))
	roundTrip(t, c, br, get("/nope.json"))
	roundTrip(t, c, br, "POST /a.json HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nUser-Agent: poster\r\n\r\n{}")

	lines := waitLines(t, path, 3)
	want := []struct{ method, path, status, size, ref, ua string }{
		{"GET", "/clock.json", "200", itoa(len(clockBody)), "http://r/", `test \"agent\"`},
		{"GET", "/nope.json", "404", "", "-", "-"},
		{"POST", "/a.json", "202", "", "-", "poster"},
	}
	for i, w := range want {
		m := combined.FindStringSubmatch(lines[i])
		if m == nil {
			t.Fatalf("line %d not in combined format: %q", i, lines[i])
		}
		if m[1] != w.method || m[2] != w.path || m[3] != w.status || (w.size != "" && m[4] != w.size) || m[5] != w.ref || m[6] != w.ua {
			t.Errorf("line %d: %q, want %+v", i, lines[i], w)
		}
	}

	// Rotation: move the file away, reopen, and the next lines go to a new file.
	must(t, os.Rename(path, path+".1"))
	al.Reopen()
	time.Sleep(50 * time.Millisecond) // let the writer reopen before the next hand-over
	roundTrip(t, c, br, get("/b.json"))
	lines = waitLines(t, path, 1)
	if !strings.Contains(lines[0], `"GET /b.json HTTP/1.1" 200`) {
		t.Fatalf("after reopen: %q", lines)
	}
	f.srv.Shutdown(context.Background())
	<-f.done
	f.done <- nil
	must(t, al.Close())
}

func itoa(n int) string { return strconv.Itoa(n) }

func waitLines(t *testing.T, path string, n int) []string {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		if len(b) > 0 && len(lines) >= n {
			return lines
		}
		if time.Now().After(deadline) {
			t.Fatalf("access log %s: want %d lines, have %q", path, n, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestHandleAllocsAccessLog: logging a request costs no allocation either.
func TestHandleAllocsAccessLog(t *testing.T) {
	l, c, path := inProcessLogged(t)
	raw := []byte("GET /clock.json HTTP/1.1\r\nHost: x\r\nUser-Agent: curl/8\r\n\r\n")
	step(t, l, c, raw)
	if a := testing.AllocsPerRun(500, func() { step(t, l, c, raw) }); a != 0 {
		t.Fatalf("%v allocations per logged request, want 0", a)
	}
	l.ops.log.handOff(l.ops.m)
	waitLines(t, path, 100)
}

// inProcessLogged is inProcess with the access log on and a peer address.
func inProcessLogged(t testing.TB) (*loop, *conn, string) {
	l, c, _ := inProcess(t)
	path := filepath.Join(t.TempDir(), "access.log")
	al, err := OpenAccessLog(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { al.Close() })
	l.s.opt.AccessLog = al
	l.ops.log.init(al)
	c.ops.peer = netip.MustParseAddr("127.0.0.1")
	return l, c, path
}

// BenchmarkHandleAccessLog: the cost of the access log on the request path
// (the file writes happen on the writer goroutine), against the same
// request without it.
func BenchmarkHandleAccessLog(b *testing.B) {
	raw := []byte("GET /clock.json HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: bench\r\nAccept: */*\r\nAccept-Encoding: gzip, deflate, br\r\n\r\n")
	b.Run("off", func(b *testing.B) {
		l, c, _ := inProcess(b)
		b.ReportAllocs()
		for b.Loop() {
			step(b, l, c, raw)
		}
	})
	b.Run("on", func(b *testing.B) {
		l, c, _ := inProcessLogged(b)
		b.ReportAllocs()
		for b.Loop() {
			step(b, l, c, raw)
		}
	})
}

func TestMetricsJournalFromWorkers(t *testing.T) {
	mdir := t.TempDir()
	var commits, fsyncs, nanos atomic.Int64
	f := start(t, func(o *Options) {
		o.Admin.MetricsDir = mdir
		o.JournalStats = func() (int64, int64, int64) { return commits.Load(), fsyncs.Load(), nanos.Load() }
	})
	commits.Store(7)
	fsyncs.Store(5)
	nanos.Store(3e9)
	deadline := time.Now().Add(3 * time.Second)
	for {
		m := scrape(t, f)
		c, n, s := value(m, "jawas_journal_commits_total"), value(m, "jawas_journal_fsyncs_total"), value(m, "jawas_journal_fsync_seconds_total")
		if c == 7 && n == 5 && s == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("journal metrics: commits %v fsyncs %v seconds %v, want 7 5 3", c, n, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Growth is added, not overwritten: the counters only go up.
	fsyncs.Store(6)
	deadline = time.Now().Add(3 * time.Second)
	for value(scrape(t, f), "jawas_journal_fsyncs_total") != 6 {
		if time.Now().After(deadline) {
			t.Fatal("journal fsyncs did not move to 6")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
