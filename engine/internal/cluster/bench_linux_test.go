package cluster_test

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// embeddedNodes starts three nodes that embed the NATS servers.
func embeddedNodes(t testing.TB, extra, source string) []*node {
	var client, route [3]int
	var routes []string
	for i := range client {
		client[i], route[i] = freePort(t), freePort(t)
		routes = append(routes, fmt.Sprintf("%q", fmt.Sprintf("nats://127.0.0.1:%d", route[i])))
	}
	var nodes []*node
	for i := range client {
		x := fmt.Sprintf("embed = true\nembed_listen = \"127.0.0.1:%d\"\nembed_cluster = \"127.0.0.1:%d\"\nembed_routes = [%s]\n%s",
			client[i], route[i], strings.Join(routes, ", "), extra)
		nodes = append(nodes, newNode(t, nodeConfig{id: fmt.Sprintf("e%d", i+1), extra: x, source: source}))
	}
	for _, n := range nodes {
		waitFor(t, 40*time.Second, n.id+" serving /log.json", func() bool { _, _, err := n.read(); return err == nil })
	}
	return nodes
}

// countJS counts writes and keeps the last 16 ids: a small render, so
// the figures are the write path's, not the JSON of a growing list.
const countJS = `
export const initial = { n: 0, ids: [] };
export function post(state, event) { state.n++; state.ids.push(event.body.id); if (state.ids.length > 16) state.ids.shift(); }
export default function render(state, ctx) { return { now: ctx.nowMs, n: state.n, ids: state.ids }; }
`

// BenchmarkClusterWrites (bench/run.sh MODE=cluster): three nodes with
// embedded NATS servers (fsync before every ack); 64 clients post to all
// three for 5 s; acknowledged-as-replicated writes per second; then the
// write-to-visible time on another node, in periods (200 ms).
func BenchmarkClusterWrites(b *testing.B) {
	nodes := embeddedNodes(b, "", countJS)
	for i := 0; i < b.N; i++ {
		var yes, pending, fails atomic.Int64
		var wg sync.WaitGroup
		end := time.Now().Add(5 * time.Second)
		start := time.Now()
		for c := 0; c < 64; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := 0; k < 1_000_000 && time.Now().Before(end); k++ {
					a, err := nodes[(c+k)%3].post(fmt.Sprintf("b%d-%d-%d", i, c, k))
					switch {
					case err != nil:
						fails.Add(1)
					case a.Replicated == "yes":
						yes.Add(1)
					default:
						pending.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		secs := time.Since(start).Seconds()
		b.ReportMetric(float64(yes.Load())/secs, "replicated-writes/s")
		b.ReportMetric(float64(pending.Load()), "pending")
		b.ReportMetric(float64(fails.Load()), "failed")
	}
	// Write-to-visible on another node: 40 writes, one at a time.
	var lat []time.Duration
	for k := 0; k < 40; k++ {
		id := fmt.Sprintf("vis-%d", k)
		t0 := time.Now()
		if _, err := nodes[0].post(id); err != nil {
			b.Fatal(err)
		}
		for {
			d, _, err := nodes[1].read()
			if err == nil && slices.Contains(d.IDs, id) { // countJS keeps the last 16 ids
				break
			}
			if time.Since(t0) > 10*time.Second {
				b.Fatalf("%s not visible on e2 after 10 s", id)
			}
			time.Sleep(2 * time.Millisecond)
		}
		lat = append(lat, time.Since(t0))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	p99 := lat[len(lat)*99/100]
	b.ReportMetric(float64(p99)/float64(200*time.Millisecond), "p99-visible-periods")
	b.ReportMetric(float64(lat[len(lat)/2])/float64(200*time.Millisecond), "p50-visible-periods")
}

// BenchmarkSingleWrites is BenchmarkClusterWrites's baseline: the same
// clients and source against one node without cluster mode.
func BenchmarkSingleWrites(b *testing.B) {
	n := newSingle(b)
	for i := 0; i < b.N; i++ {
		var ok atomic.Int64
		var wg sync.WaitGroup
		end := time.Now().Add(5 * time.Second)
		start := time.Now()
		for c := 0; c < 64; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := 0; k < 1_000_000 && time.Now().Before(end); k++ {
					if _, err := n.post(fmt.Sprintf("b%d-%d-%d", i, c, k)); err == nil {
						ok.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		b.ReportMetric(float64(ok.Load())/time.Since(start).Seconds(), "writes/s")
	}
}
