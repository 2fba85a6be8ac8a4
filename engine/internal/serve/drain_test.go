//go:build linux

package serve

import (
	"bufio"
	"context"
	"testing"
	"time"
)

// A draining server must not close a keep-alive connection the moment it
// is idle: the client's next request may already be on the wire and would
// be lost. It answers it with Connection: close instead (the e2e tests saw
// ~100-200 lost requests per reload/recycle run before drainIdleGrace).
func TestShutdownAnswersRequestOnIdleConn(t *testing.T) {
	f := start(t, nil)
	c := f.dial()
	br := bufio.NewReader(c)
	roundTrip(t, c, br, get("/a.json"))
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- f.srv.Shutdown(ctx)
	}()
	time.Sleep(50 * time.Millisecond) // the drain has begun; the connection sat idle
	if _, err := c.Write([]byte(get("/a.json"))); err != nil {
		t.Fatal(err)
	}
	resp, body := readResp(t, br, false)
	if resp.StatusCode != 200 || string(body) != `{"a":1}` || !resp.Close {
		t.Fatalf("request on an idle connection during drain: %d %q close=%v", resp.StatusCode, body, resp.Close)
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}
