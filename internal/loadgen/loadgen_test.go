package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"
)

// snapshotServer serves a fixed JSON body with a strong ETag, answers
// If-None-Match with 304 and sends the jawas period headers.
func snapshotServer(t *testing.T, periodMs int64, count *atomic.Int64) *httptest.Server {
	body := []byte(`{"hello":"world","n":42}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		count.Add(1)
		now := time.Now().UnixMilli()
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("X-Jawas-Period", fmt.Sprint(periodMs))
		w.Header().Set("X-Jawas-Next", fmt.Sprint(periodMs-now%periodMs))
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func testCountsMatchServer(t *testing.T, engine string) {
	var count atomic.Int64
	srv := snapshotServer(t, 100, &count)
	cfg := Config{Engine: engine, URL: srv.URL + "/clock.json", Clients: 20, Period: 100 * time.Millisecond,
		Duration: time.Second, Warmup: 200 * time.Millisecond,
		MinRateRatio: 0.5} // the machine is shared: a starved client may miss a poll
	var progress bytes.Buffer
	res, err := Run(context.Background(), cfg, &progress)
	if err != nil {
		t.Fatal(err)
	}
	if got := count.Load(); uint64(got) != res.TotalSent {
		t.Errorf("server counted %d requests, loadgen sent %d", got, res.TotalSent)
	}
	if n := res.OK200 + res.NotModified; n != res.Sent {
		t.Errorf("sent %d in window but %d OK responses; errors %v", res.Sent, n, res.Errors)
	}
	// The schedule is exact: each client is due Duration/Period times in the window.
	if res.Sent+res.Missed != 200 {
		t.Errorf("sent %d + missed %d, want exactly 200 polls due", res.Sent, res.Missed)
	}
	if want := 200.0; res.AchievedRate < 0.5*want || res.AchievedRate > want {
		t.Errorf("achieved %.1f/s, want ~%.0f/s", res.AchievedRate, want)
	}
	// Each client's first request in the run is a 200; the rest revalidate.
	if res.OK200 > uint64(cfg.Clients) || res.NotModified < res.Sent*8/10 {
		t.Errorf("200s %d, 304s %d of %d: ETag not sent back?", res.OK200, res.NotModified, res.Sent)
	}
	if len(res.Errors) != 0 {
		t.Errorf("errors: %v", res.Errors)
	}
	if res.Staleness == nil || res.Staleness.Max > 100+res.Latency.Max+5 || res.Staleness.Count != res.Sent {
		t.Errorf("staleness %+v (latency max %.1fms)", res.Staleness, res.Latency.Max)
	}
	if ok, reasons := res.OK(); !ok {
		t.Errorf("OK() false: %v", reasons)
	}
	if res.Latency.Count != res.Sent || res.Latency.P99 <= 0 {
		t.Errorf("latency %+v", res.Latency)
	}
	var table bytes.Buffer
	res.WriteTable(&table)
	for _, want := range []string{"rate", "p99", "verdict", "OK"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	if !strings.Contains(progress.String(), "req/s=") {
		t.Errorf("no progress line: %q", progress.String())
	}
}

func testSlowServerShortfall(t *testing.T, engine string) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond)
		w.Write([]byte("{}"))
	}))
	t.Cleanup(srv.Close)
	res, err := Run(context.Background(), Config{Engine: engine, URL: srv.URL, Clients: 5, Period: 100 * time.Millisecond,
		Duration: 1200 * time.Millisecond, Warmup: 100 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ok, reasons := res.OK()
	if ok || len(reasons) == 0 || !strings.Contains(reasons[0], "rate not held") {
		t.Fatalf("OK()=%v %v; achieved %.1f of %.1f", ok, reasons, res.AchievedRate, res.AskedRate)
	}
	if res.AchievedRate > 0.5*res.AskedRate || res.Missed == 0 {
		t.Errorf("achieved %.1f of %.1f, missed %d: a 300 ms server cannot hold 10/s per client",
			res.AchievedRate, res.AskedRate, res.Missed)
	}
	// Missed polls are counted, not burst: sent + missed covers the schedule.
	if want := uint64(5 * 12); res.Sent+res.Missed < want-5 || res.Sent+res.Missed > want+5 {
		t.Errorf("sent %d + missed %d, want ~%d", res.Sent, res.Missed, want)
	}
	if res.Staleness != nil {
		t.Errorf("staleness without jawas headers: %+v", res.Staleness)
	}
}

// rawServer accepts connections and hands each to handle.
func rawServer(t *testing.T, handle func(net.Conn)) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go handle(c)
		}
	}()
	return "http://" + ln.Addr().String() + "/x.json"
}

// readRequest consumes one request head from c.
func readRequest(br *bufio.Reader) error {
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return err
		}
		if line == "\r\n" {
			return nil
		}
	}
}

func testErrorsByKind(t *testing.T, engine string) {
	cases := []struct {
		name   string
		kind   string
		handle func(net.Conn)
	}{
		{"close without answer", "eof", func(c net.Conn) {
			readRequest(bufio.NewReader(c))
			c.Close()
		}},
		{"reset", "reset", func(c net.Conn) {
			readRequest(bufio.NewReader(c))
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
		}},
		{"503", "status_503", func(c net.Conn) {
			defer c.Close()
			br := bufio.NewReader(c)
			for readRequest(br) == nil {
				io.WriteString(c, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy")
			}
		}},
		{"garbage", "protocol", func(c net.Conn) {
			defer c.Close()
			br := bufio.NewReader(c)
			for readRequest(br) == nil {
				io.WriteString(c, "SSH-2.0-OpenSSH\r\n\r\n")
			}
		}},
		{"timeout", "timeout", func(c net.Conn) {
			defer c.Close()
			readRequest(bufio.NewReader(c))
			time.Sleep(time.Second)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			url := rawServer(t, tc.handle)
			res, err := Run(context.Background(), Config{Engine: engine, URL: url, Clients: 4, Period: 100 * time.Millisecond,
				Duration: 500 * time.Millisecond, Warmup: 50 * time.Millisecond, Timeout: 150 * time.Millisecond}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Errors[tc.kind] == 0 {
				t.Errorf("no %q errors: %v", tc.kind, res.Errors)
			}
			ok, reasons := res.OK()
			if ok || !strings.Contains(strings.Join(reasons, ";"), "error rate") {
				t.Errorf("OK()=%v %v", ok, reasons)
			}
		})
	}
}

func testConnectFailure(t *testing.T, engine string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String() + "/"
	ln.Close() // nothing listens there now
	res, err := Run(context.Background(), Config{Engine: engine, URL: url, Clients: 3, Period: 100 * time.Millisecond,
		Duration: 300 * time.Millisecond, Warmup: 0}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.ConnectFailures != 3 || res.Errors["connect"] < 3 {
		t.Errorf("connect failures %d, errors %v", res.ConnectFailures, res.Errors)
	}
	if ok, _ := res.OK(); ok {
		t.Error("OK() true with nothing listening")
	}
}

func testConnectionCloseAndChunked(t *testing.T, engine string) {
	var count atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := count.Add(1)
		if n%2 == 0 {
			w.Header().Set("Connection", "close")
		}
		w.Write([]byte(`{"part":1,`))
		w.(http.Flusher).Flush() // forces chunked encoding
		w.Write([]byte(`"part2":2}`))
	}))
	t.Cleanup(srv.Close)
	res, err := Run(context.Background(), Config{Engine: engine, URL: srv.URL, Clients: 4, Period: 100 * time.Millisecond,
		Duration: 500 * time.Millisecond, Warmup: 100 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Errors) != 0 || res.OK200 != res.Sent || res.Reconnects == 0 {
		t.Errorf("errors %v, 200s %d of %d, reconnects %d", res.Errors, res.OK200, res.Sent, res.Reconnects)
	}
	if uint64(count.Load()) != res.TotalSent {
		t.Errorf("server %d, sent %d", count.Load(), res.TotalSent)
	}
}

const chunkedResponse = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nETag: \"abc\"\r\nX-Jawas-Period: 200\r\nX-Jawas-Next: 50\r\n\r\n" +
	"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nTrailer: x\r\n\r\n"

func TestReadResponse(t *testing.T) {
	cases := []struct {
		name, in         string
		status           int
		body             int64
		etag             string
		close, wantErr   bool
		periodMs, nextMs int64
	}{
		{"content-length", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nETag: W/\"x\"\r\n\r\nabc", 200, 3, `W/"x"`, false, false, -1, -1},
		{"chunked", chunkedResponse, 200, 12, `"abc"`, false, false, 200, 50},
		{"304 no body", "HTTP/1.1 304 Not Modified\r\nETag: \"abc\"\r\nContent-Length: 99\r\n\r\n", 304, 0, `"abc"`, false, false, -1, -1},
		{"http/1.0 closes", "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", 200, 1, "", true, false, -1, -1},
		{"connection close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx", 200, 1, "", true, false, -1, -1},
		{"read to eof", "HTTP/1.1 200 OK\r\n\r\nabcdef", 200, 6, "", true, false, -1, -1},
		{"short body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 0, 0, "", false, true, -1, -1},
		{"bad status", "HTTP/1.1 2x0 OK\r\n\r\n", 0, 0, "", false, true, -1, -1},
		{"two lengths", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 0, 0, "", false, true, -1, -1},
		{"bad chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 0, 0, "", false, true, -1, -1},
	}
	for _, tc := range cases {
		for _, split := range []string{"whole", "byte-by-byte"} {
			t.Run(tc.name+"/"+split, func(t *testing.T) {
				var r io.Reader = strings.NewReader(tc.in)
				if split != "whole" {
					r = iotest.OneByteReader(r)
				}
				var res response
				err := readResponse(bufio.NewReaderSize(r, 64), &res, make([]byte, 0, 8))
				if tc.wantErr {
					if err == nil {
						t.Fatalf("no error for %q", tc.in)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if res.status != tc.status || res.bodyBytes != tc.body || string(res.etag) != tc.etag ||
					res.close != tc.close || res.periodMs != tc.periodMs || res.nextMs != tc.nextMs {
					t.Errorf("got %+v etag %q", res, res.etag)
				}
				if res.wireBytes != int64(len(tc.in)) {
					t.Errorf("wire bytes %d, want %d", res.wireBytes, len(tc.in))
				}
			})
		}
	}
}

func TestSteadyStateAllocatesNothing(t *testing.T) {
	tgt, err := parseTarget("http://127.0.0.1:1/clock.json")
	if err != nil {
		t.Fatal(err)
	}
	in := strings.NewReader(chunkedResponse)
	br := bufio.NewReaderSize(in, 4096)
	req := make([]byte, 0, 512)
	etag := make([]byte, 0, 64)
	var res response
	allocs := testing.AllocsPerRun(200, func() {
		req = tgt.appendRequest(req[:0], etag)
		in.Reset(chunkedResponse)
		br.Reset(in)
		if err := readResponse(br, &res, etag); err != nil {
			t.Fatal(err)
		}
		etag = res.etag
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per request", allocs)
	}
	if !bytes.Contains(req, []byte("If-None-Match: \"abc\"\r\n\r\n")) {
		t.Errorf("request lacks If-None-Match: %q", req)
	}
}

func testMain_(t *testing.T, engine string) {
	var count atomic.Int64
	srv := snapshotServer(t, 100, &count)
	jsonFile := filepath.Join(t.TempDir(), "r.json")
	var out, errOut bytes.Buffer
	code := Main([]string{srv.URL, "--engine", engine, "--clients", "5", "--period", "100ms", "--duration", "300ms",
		"--warmup", "0s", "--min-rate-ratio", "0.01", "--json", jsonFile}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errOut.String())
	}
	b, err := os.ReadFile(jsonFile)
	if err != nil || !bytes.Contains(b, []byte(`"achieved_rate"`)) {
		t.Fatalf("json %s: %v", b, err)
	}
	if code := Main([]string{"--clients", "1", "--bogus"}, &out, &errOut); code != 2 {
		t.Errorf("bad flag: exit %d", code)
	}
	if code := Main(nil, &out, &errOut); code != 2 {
		t.Errorf("no url: exit %d", code)
	}
	// An impossible rate makes Main return 1.
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(250 * time.Millisecond)
	}))
	t.Cleanup(slow.Close)
	if code := Main([]string{"--engine=" + engine, "--clients=2", "--period=50ms", "--duration=300ms", "--warmup=0s", "--timeout=5s", slow.URL}, &out, &errOut); code != 1 {
		t.Errorf("slow server: exit %d, want 1", code)
	}
}

// FuzzReadResponse feeds arbitrary bytes to the response reader: it must
// never panic, never claim more bytes than it read, and never report a
// body for a response it rejected as malformed.
func FuzzReadResponse(f *testing.F) {
	f.Add(chunkedResponse)
	f.Add("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc")
	f.Add("HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n")
	f.Add("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffff\r\n")
	f.Add("HTTP/1.0 200 OK\r\n\r\nrest")
	f.Fuzz(func(t *testing.T, in string) {
		var res response
		br := bufio.NewReaderSize(strings.NewReader(in), 64)
		err := readResponse(br, &res, make([]byte, 0, 8))
		if res.wireBytes > int64(len(in)) || res.bodyBytes > res.wireBytes {
			t.Fatalf("wire %d body %d from %d input bytes", res.wireBytes, res.bodyBytes, len(in))
		}
		if err == nil && (res.status < 200 || res.status > 999) {
			t.Fatalf("accepted status %d", res.status)
		}
	})
}

func testCancelStopsEarly(t *testing.T, engine string) {
	var count atomic.Int64
	srv := snapshotServer(t, 100, &count)
	ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
	defer cancel()
	began := time.Now()
	res, err := Run(ctx, Config{Engine: engine, URL: srv.URL, Clients: 5, Period: 100 * time.Millisecond,
		Duration: time.Minute, Warmup: 100 * time.Millisecond}, nil)
	if err == nil || res == nil {
		t.Fatalf("cancelled run: res %v err %v", res, err)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("Run took %v after cancel", took)
	}
	if res.WindowS <= 0 || res.WindowS > 1 || res.Sent == 0 {
		t.Errorf("partial window %.2fs with %d sent", res.WindowS, res.Sent)
	}
	if uint64(count.Load()) != res.TotalSent {
		t.Errorf("server %d, sent %d", count.Load(), res.TotalSent)
	}
}

// TestEngines runs every end-to-end test against both engines.
func TestEngines(t *testing.T) {
	tests := []struct {
		name string
		fn   func(*testing.T, string)
	}{
		{"CountsMatchServer", testCountsMatchServer},
		{"SlowServerShortfall", testSlowServerShortfall},
		{"ErrorsByKind", testErrorsByKind},
		{"ConnectFailure", testConnectFailure},
		{"ConnectionCloseAndChunked", testConnectionCloseAndChunked},
		{"Main", testMain_},
		{"CancelStopsEarly", testCancelStopsEarly},
	}
	for _, engine := range []string{"epoll", "goroutine"} {
		for _, tc := range tests {
			t.Run(engine+"/"+tc.name, func(t *testing.T) { tc.fn(t, engine) })
		}
	}
	if _, err := Run(context.Background(), Config{URL: "http://127.0.0.1:1/", Engine: "threads"}, nil); err == nil {
		t.Error("unknown engine accepted")
	}
}
