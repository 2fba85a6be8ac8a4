package cluster_test

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// rejectJS is logJS whose reducer rejects the ids that start with "bad".
const rejectJS = `
export const initial = { ids: [] };
export function post(state, event) {
  if (event.body.id.startsWith("bad")) throw new Error("no bad ids: " + event.body.id);
  state.ids.push(event.body.id);
}
export default function render(state, ctx) { return { now: ctx.nowMs, ids: state.ids }; }
`

// eventStatus is GET /_jawas/events/ID's answer.
type eventStatus struct {
	code     int
	ID       string    `json:"id"`
	State    string    `json:"state"`
	Boundary time.Time `json:"boundary"`
	Reason   string    `json:"reason"`
}

// event asks n for the fate of event id.
func (n *node) event(id string) (eventStatus, error) {
	var st eventStatus
	resp, err := client.Get("http://" + n.addr + "/_jawas/events/" + id)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return st, err
	}
	st.code = resp.StatusCode
	if err := json.Unmarshal(body, &st); err != nil {
		return st, fmt.Errorf("GET /_jawas/events/%s on %s: %d %s", id, n.id, resp.StatusCode, body)
	}
	return st, nil
}

// waitDecided polls n until event id is no longer pending.
func waitDecided(t *testing.T, n *node, id string) eventStatus {
	t.Helper()
	var st eventStatus
	waitFor(t, 10*time.Second, "event "+id+" decided on "+n.id, func() bool {
		var err error
		st, err = n.event(id)
		if err != nil {
			t.Fatal(err)
		}
		if st.code != 200 {
			t.Fatalf("GET /_jawas/events/%s on %s: %d %+v", id, n.id, st.code, st)
		}
		return st.State != "pending"
	})
	return st
}

// TestEventStatusAcrossNodes: in cluster mode GET /_jawas/events/ID
// answers for a write posted to any node (an engine-eligible node, leading
// or not, and a serve-only one): applied, with the boundary at which every
// node first serves it, or rejected with the reducer's reason, once the
// leader decided it. Every node answers the same; an id of an incarnation
// no node ever had is unknown (404).
func TestEventStatusAcrossNodes(t *testing.T) {
	nc := startNATS(t, 3, false)
	nodes := startNodesOf(t, []nodeConfig{
		{id: "n1", natsURL: nc.urls(), source: rejectJS},
		{id: "n2", natsURL: nc.urls(), source: rejectJS},
		{id: "n3", natsURL: nc.urls(), source: rejectJS, roles: `["serve"]`},
	})
	t.Logf("leader: %s", leaderOf(nodes))
	for _, n := range nodes {
		good, bad := "ok-"+n.id, "bad-"+n.id
		a, err := n.post(good)
		if err != nil {
			t.Fatal(err)
		}
		first := firstBoundary(t, nodes, good, 10*time.Second)
		for _, m := range nodes {
			st := waitDecided(t, m, a.ID)
			if st.State != "applied" || st.Boundary.UnixMilli() != first[0] {
				t.Fatalf("%s posted on %s, asked on %s: %+v, want applied at %d (first served then on every node: %v)",
					good, n.id, m.id, st, first[0], first)
			}
		}
		r, err := n.post(bad)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range nodes {
			st := waitDecided(t, m, r.ID)
			if st.State != "rejected" || !strings.Contains(st.Reason, "no bad ids: "+bad) || st.Boundary.IsZero() {
				t.Fatalf("%s posted on %s, asked on %s: %+v, want rejected with the reducer's reason", bad, n.id, m.id, st)
			}
		}
		t.Logf("posted on %s: %s applied at %v, %s rejected", n.id, a.ID, time.UnixMilli(first[0]).UTC(), r.ID)
	}
	unknown := strings.Repeat("0", 24) + "-0000000000000001"
	for _, n := range nodes {
		st, err := n.event(unknown)
		if err != nil || st.code != 404 || st.State != "unknown" {
			t.Fatalf("an id no node had, on %s: %v %+v, want 404 unknown", n.id, err, st)
		}
	}
}
