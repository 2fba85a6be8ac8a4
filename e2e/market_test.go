//go:build linux

package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestDemoMarketFromShippedDatabase: the demo as cloned serves its droid
// market from the SQLite database it ships (data/demo.db via [db.demo]):
// /market.json has the leaderboard and the page renders it on first paint.
func TestDemoMarketFromShippedDatabase(t *testing.T) {
	s := serve(t, demoCopy(t))
	var body string
	s.waitFor(t, "/market.json", 20*time.Second, func() bool {
		var st int
		st, body = s.get("/market.json")
		return st == 200
	})
	const leader = `{"name":"Wittin","clan":"Sandcrawler 7","sales":9,"credits":9110,"best":"BD-1"}`
	if !strings.HasPrefix(body, `{"leaders":[`+leader) || !strings.HasSuffix(body, `"totals":{"sales":40,"credits":41080,"last":"2024-06-11T07:16:00.000Z"}}`) {
		t.Errorf("/market.json = %s", body)
	}
	s.waitFor(t, "the market on the page", 10*time.Second, func() bool {
		_, page := s.get("/")
		return strings.Contains(page, `<b class="who">Wittin</b><span class="credits">9110<small> cr</small></span>`) &&
			strings.Contains(page, "40 sales, 41080 credits, the last on 2024-06-11")
	})
}
