package writes_test

import (
	"fmt"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestCommitWindow: with durability "sync" a write waits, up to
// serve.commit_window, for writes of other connections to share its
// fdatasync; never when its connection is the only one writing; and the
// group is committed at once, with one fdatasync, when half of the
// connections that wrote lately have a write queued.
func TestCommitWindow(t *testing.T) {
	const window = time.Second // the most serve.commit_window allows
	p := newProject(t, fmt.Sprintf("workers = 1\ncommit_window = %q\n", window.String()), map[string]string{"q.js": queueJS})
	p.start()
	postID := func(c *client, id string) (time.Duration, error) {
		t0 := time.Now()
		resp, body, err := c.do(post("/q.json", "application/json", fmt.Sprintf(`{"id":%q}`, id)))
		if err != nil {
			return 0, err
		}
		if resp.StatusCode != 202 {
			return 0, fmt.Errorf("post %s: %d %s", id, resp.StatusCode, body)
		}
		return time.Since(t0), nil
	}

	// A lone connection posting one write after another has nobody to
	// wait for.
	lone := &client{addr: p.addr}
	defer lone.close()
	for i := 0; i < 5; i++ {
		d, err := postID(lone, fmt.Sprintf("lone-%d", i))
		must(t, err)
		if d > window/2 {
			t.Fatalf("lone write %d answered after %v: it waited for the %v window with no other connection writing", i, d, window)
		}
	}

	// Eight more connections write once each, concurrently: nine
	// connections wrote lately.
	conns := make([]*client, 8)
	var wg sync.WaitGroup
	errs := make(chan error, len(conns))
	for i := range conns {
		conns[i] = &client{addr: p.addr}
		defer conns[i].close()
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if _, err := postID(conns[i], fmt.Sprintf("warm-%d", i)); err != nil {
				errs <- err
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	fsyncs0 := p.fsyncs()

	// One write alone is held for others (1 of 9 writers queued) ...
	held := make(chan time.Duration, 1)
	go func() {
		d, err := postID(conns[0], "held")
		if err != nil {
			t.Error(err)
		}
		held <- d
	}()
	const pause = 300 * time.Millisecond
	time.Sleep(pause)
	select {
	case d := <-held:
		t.Fatalf("the held write was answered after %v, with 1 of 9 recent writers queued and the window %v", d, window)
	default:
	}
	// ... until four more join it: 5 of 9 queued, so it commits at once.
	joined := make(chan time.Duration, 4)
	for i := 1; i <= 4; i++ {
		go func(i int) {
			d, err := postID(conns[i], fmt.Sprintf("join-%d", i))
			if err != nil {
				t.Error(err)
			}
			joined <- d
		}(i)
	}
	for i := 0; i < 4; i++ {
		if d := <-joined; d > window/2 {
			t.Errorf("a joining write was answered after %v: the group was full and should have committed at once", d)
		}
	}
	if d := <-held; d < pause || d > pause+window/2 {
		t.Errorf("the held write was answered after %v, want between %v (when the others joined) and the window's end", d, pause)
	}
	if got := p.fsyncs() - fsyncs0; got != 1 {
		t.Errorf("the group of 5 writes took %d fdatasyncs, want 1", got)
	}

	// All 18 writes were applied.
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, err := lone.snapshot("/q.json")
		must(t, err)
		if len(s.IDs) == 18 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("snapshot has %d ids, want 18: %v", len(s.IDs), s.IDs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var fsyncsRE = regexp.MustCompile(`(?m)^jawas_journal_fsyncs_total ([0-9.e+]+)$`)

// fsyncs returns jawas_journal_fsyncs_total once two scrapes 300 ms
// apart agree (the workers publish their counters periodically).
func (p *project) fsyncs() int {
	p.t.Helper()
	c := &client{addr: p.addr}
	defer c.close()
	scrape := func() int {
		_, body, err := c.do(get("/_jawas/metrics"))
		must(p.t, err)
		m := fsyncsRE.FindSubmatch(body)
		if m == nil {
			p.t.Fatalf("no jawas_journal_fsyncs_total in /_jawas/metrics:\n%s", body)
		}
		f, err := strconv.ParseFloat(string(m[1]), 64)
		must(p.t, err)
		return int(f)
	}
	prev := scrape()
	for i := 0; i < 20; i++ {
		time.Sleep(300 * time.Millisecond)
		n := scrape()
		if n == prev {
			return n
		}
		prev = n
	}
	p.t.Fatal("jawas_journal_fsyncs_total kept moving")
	return 0
}
