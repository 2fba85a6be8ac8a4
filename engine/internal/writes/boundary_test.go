//go:build linux

package writes_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestWritesJustBeforeBoundaries: every acknowledged write is applied at
// the boundary its 202 named (visible_at), read from its event status,
// when writes are committed right before boundaries, boundary after
// boundary. It guards the engine's skipped journal reads (an idle engine
// reads the journal only when the shared commit count moved since a read
// that left nothing behind; gate.go): a worker that counted its commit only
// after stamping or committing it would let the engine skip the read of a
// boundary its records were stamped before, and they would be applied a
// period late. The writes whose 202 came after their boundary had their
// commit in flight across it, the case the count must cover; the test
// requires some.
//
// An engine late by a period on a busy machine does not evaluate the
// source at every boundary (a render still running skips the next); the
// records then wait for the next boundary it renders, which is no broken
// promise of the count's. So the source lists the boundaries it rendered,
// and a write promised B must be applied at the first of them at or after
// B; most promised boundaries must have been rendered.
// renderedJS is queueJS that also lists the boundaries it rendered (the
// last 10,000), in order.
const renderedJS = `
export const initial = { ids: [] };
export function post(state, event) { state.ids.push(event.body.id); }
const rendered = [];
export default function render(state, ctx) {
  rendered.push(ctx.nowMs);
  if (rendered.length > 10000) rendered.shift();
  return { now: ctx.nowMs, count: state.ids.length, rendered };
}
`

func TestWritesJustBeforeBoundaries(t *testing.T) {
	const period = 100 * time.Millisecond
	const conns, rounds = 6, 80
	p := newProject(t, fmt.Sprintf("[source.q]\nperiod = %q\n", period.String()), map[string]string{"q.js": renderedJS})
	p.start()

	type sent struct {
		id, event string // the posted id, the 202's event ID
		visibleAt int64  // Unix ms, from the 202
		ackedAt   time.Time
	}
	var mu sync.Mutex
	var acks []sent
	var wg sync.WaitGroup
	for c := 0; c < conns; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := &client{addr: p.addr}
			defer cl.close()
			start := time.Now().Truncate(period).Add(2 * period)
			for r := 0; r < rounds; r++ {
				// Round r writes just before boundary start+r: in odd
				// rounds every connection, each in the last 3 ms at its
				// own lead (0.25 ms steps); in even rounds one connection
				// alone, in the last 1.2 ms, so that its commit is often
				// the only one and in flight across the boundary.
				lead := time.Duration((c*7+r*5)%12+1) * 250 * time.Microsecond
				if r%2 == 0 {
					if c != (r/2)%conns {
						continue
					}
					lead = time.Duration(r%6+1) * 200 * time.Microsecond
				}
				next := start.Add(time.Duration(r) * period)
				if time.Until(next) < lead {
					continue // this goroutine ran late: skip the round
				}
				time.Sleep(time.Until(next.Add(-lead)))
				id := fmt.Sprintf("c%d-r%d", c, r)
				resp, body, err := cl.do(post("/q.json", "application/json", fmt.Sprintf(`{"id":%q}`, id)))
				now := time.Now()
				var a ack
				if err == nil && resp.StatusCode == 202 {
					err = json.Unmarshal(body, &a)
				}
				if err != nil || resp.StatusCode != 202 || a.ID == "" {
					t.Errorf("post %s: %v %v %s", id, err, resp, body)
					return
				}
				mu.Lock()
				acks = append(acks, sent{id: id, event: a.ID, visibleAt: a.VisibleAt, ackedAt: now})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	// Each write's fate, once decided.
	cl := &client{addr: p.addr}
	defer cl.close()
	type status struct {
		State    string    `json:"state"`
		Boundary time.Time `json:"boundary"`
	}
	var rendered []int64
	waitFor(t, 10*time.Second, "a render after the last write's boundary", func() bool {
		_, body, err := cl.do(get("/q.json"))
		var snap struct {
			Rendered []int64 `json:"rendered"`
		}
		if err != nil || json.Unmarshal(body, &snap) != nil || len(snap.Rendered) == 0 {
			return false
		}
		rendered = snap.Rendered
		for _, a := range acks {
			if a.visibleAt > rendered[len(rendered)-1] {
				return false
			}
		}
		return true
	})
	// firstRendered is the first boundary at or after b the source rendered.
	firstRendered := func(b int64) int64 {
		i, _ := slices.BinarySearch(rendered, b)
		return rendered[i]
	}
	late, inFlight, unrendered := 0, 0, 0
	for _, a := range acks {
		var st status
		waitFor(t, 10*time.Second, "the event status of "+a.id, func() bool {
			_, body, err := cl.do(get("/_jawas/events/" + a.event))
			if err != nil || json.Unmarshal(body, &st) != nil {
				return false
			}
			return st.State != "pending"
		})
		if !a.ackedAt.Before(time.UnixMilli(a.visibleAt)) {
			inFlight++
		}
		switch {
		case st.State != "applied":
			t.Errorf("%s: %s, want applied", a.id, st.State)
		case st.Boundary.UnixMilli() != firstRendered(a.visibleAt):
			late++
			t.Errorf("%s: applied at boundary %s, promised %s, first rendered at or after it %s (acknowledged at %s)", a.id,
				st.Boundary.Format("15:04:05.000"), time.UnixMilli(a.visibleAt).Format("15:04:05.000"),
				time.UnixMilli(firstRendered(a.visibleAt)).Format("15:04:05.000"), a.ackedAt.Format("15:04:05.000"))
		}
		if firstRendered(a.visibleAt) != a.visibleAt {
			unrendered++
		}
	}
	t.Logf("%d writes just before %d boundaries: %d acknowledged after the boundary they were promised (commit in flight across it), %d promised a boundary the engine did not render (late), %d applied at another boundary than the first rendered at or after their promise",
		len(acks), rounds, inFlight, unrendered, late)
	if inFlight == 0 {
		t.Errorf("no write had its commit in flight across its boundary: the test did not exercise the engine's read at a boundary")
	}
	if 2*unrendered > len(acks) {
		t.Errorf("%d of %d writes were promised a boundary the engine did not render: the test saw too little", unrendered, len(acks))
	}
}
