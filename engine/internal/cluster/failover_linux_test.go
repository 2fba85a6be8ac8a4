package cluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jawas/jawas/engine/internal/cluster"
)

// writeLoad posts unique ids to the nodes not marked down, round-robin,
// from a few clients, and keeps every id answered 202 (acknowledged).
type writeLoad struct {
	nodes []*node
	down  []atomic.Bool

	mu    sync.Mutex
	acked map[string]string // id → X-Jawas-Replicated
	fails map[string]int    // node id → failed posts

	stop chan struct{}
	wg   sync.WaitGroup
}

func startWrites(nodes []*node, clients int, max time.Duration) *writeLoad {
	w := &writeLoad{nodes: nodes, down: make([]atomic.Bool, len(nodes)), acked: map[string]string{}, fails: map[string]int{}, stop: make(chan struct{})}
	end := time.Now().Add(max)
	for c := 0; c < clients; c++ {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			for i := 0; i < 100000 && time.Now().Before(end); i++ {
				select {
				case <-w.stop:
					return
				default:
				}
				k := (c + i) % len(nodes)
				if w.down[k].Load() {
					continue
				}
				id := fmt.Sprintf("c%d-%d", c, i)
				a, err := nodes[k].post(id)
				w.mu.Lock()
				if err == nil {
					w.acked[id] = a.Replicated
				} else {
					w.fails[nodes[k].id]++
				}
				w.mu.Unlock()
			}
		}()
	}
	return w
}

func (w *writeLoad) finish() {
	close(w.stop)
	w.wg.Wait()
}

func (w *writeLoad) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked)
}

// readLoad reads /log.json from the nodes not marked down, and counts
// failures per node.
type readLoad struct {
	nodes []*node
	down  []atomic.Bool
	ok    atomic.Int64
	mu    sync.Mutex
	fails []string
	stop  chan struct{}
	wg    sync.WaitGroup
}

func startReads(nodes []*node, max time.Duration) *readLoad {
	r := &readLoad{nodes: nodes, down: make([]atomic.Bool, len(nodes)), stop: make(chan struct{})}
	end := time.Now().Add(max)
	for k := range nodes {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			for i := 0; i < 1000000 && time.Now().Before(end); i++ {
				select {
				case <-r.stop:
					return
				default:
				}
				if r.down[k].Load() {
					time.Sleep(5 * time.Millisecond)
					continue
				}
				if _, _, err := nodes[k].read(); err != nil {
					if r.down[k].Load() {
						continue // marked down while reading
					}
					r.mu.Lock()
					r.fails = append(r.fails, fmt.Sprintf("%s: %v", nodes[k].id, err))
					r.mu.Unlock()
				} else {
					r.ok.Add(1)
				}
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	return r
}

func (r *readLoad) finish() {
	close(r.stop)
	r.wg.Wait()
}

// headWatch follows the head key and records when each head arrived.
type headWatch struct {
	mu    sync.Mutex
	heads []seenHead
}

type seenHead struct {
	cluster.Head
	at time.Time
}

func watchHeads(t *testing.T, urls string) *headWatch {
	nc, err := nats.Connect(urls, nats.MaxReconnects(-1))
	must(t, err)
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var kv jetstream.KeyValue
	waitFor(t, 10*time.Second, "the snapshot bucket", func() bool {
		kv, err = js.KeyValue(ctx, cluster.NamesOf("jawas").Snap)
		return err == nil
	})
	w, err := kv.Watch(ctx, "head")
	must(t, err)
	hw := &headWatch{}
	go func() {
		for e := range w.Updates() {
			if e == nil {
				continue
			}
			var h cluster.Head
			if json.Unmarshal(e.Value(), &h) == nil {
				hw.mu.Lock()
				hw.heads = append(hw.heads, seenHead{h, time.Now()})
				hw.mu.Unlock()
			}
		}
	}()
	return hw
}

// firstBy returns when the first head by a leader other than not, after
// since, arrived.
func (hw *headWatch) firstBy(not string, since time.Time) (time.Time, string) {
	hw.mu.Lock()
	defer hw.mu.Unlock()
	for _, h := range hw.heads {
		if h.at.After(since) && h.Leader != not {
			return h.at, h.Leader
		}
	}
	return time.Time{}, ""
}

// chain checks the heads seen form one chain: seq +1 each time.
func (hw *headWatch) chain(t *testing.T) {
	hw.mu.Lock()
	defer hw.mu.Unlock()
	for i := 1; i < len(hw.heads); i++ {
		if hw.heads[i].Seq != hw.heads[i-1].Seq+1 {
			t.Errorf("head chain broken: seq %d (by %s) after %d (by %s)", hw.heads[i].Seq, hw.heads[i].Leader, hw.heads[i-1].Seq, hw.heads[i-1].Leader)
		}
	}
}

// increasing checks the heads seen never repeat or go back in seq (a
// fork would): a watch through a server that lost its peer may miss some
// heads, so gaps are allowed.
func (hw *headWatch) increasing(t *testing.T) {
	hw.mu.Lock()
	defer hw.mu.Unlock()
	for i := 1; i < len(hw.heads); i++ {
		if hw.heads[i].Seq <= hw.heads[i-1].Seq {
			t.Errorf("head chain forked: seq %d (by %s) after %d (by %s)", hw.heads[i].Seq, hw.heads[i].Leader, hw.heads[i-1].Seq, hw.heads[i-1].Leader)
		}
	}
}

// account waits until every acknowledged id is served by every node, then
// checks none is lost and none applied twice.
func account(t *testing.T, nodes []*node, acked map[string]string, d time.Duration) {
	t.Helper()
	var doc logDoc
	for _, n := range nodes {
		var missing int
		deadline := time.Now().Add(d)
		for {
			var err error
			doc, _, err = n.read()
			if err == nil {
				seen := map[string]bool{}
				for _, id := range doc.IDs {
					seen[id] = true
				}
				missing = 0
				for id := range acked {
					if !seen[id] {
						missing++
					}
				}
				if missing == 0 {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d of %d acknowledged writes lost (err %v)", n.id, missing, len(acked), err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		count := map[string]int{}
		twice := 0
		for _, id := range doc.IDs {
			if count[id]++; count[id] == 2 {
				twice++
			}
		}
		if twice > 0 {
			t.Fatalf("%s: %d writes applied twice", n.id, twice)
		}
		t.Logf("%s: %d acknowledged writes, all present once (%d ids served)", n.id, len(acked), len(doc.IDs))
	}
}

// TestKillLeaderUnderWrites SIGKILLs the node that leads the engine while
// clients write to every node and read from every node: a new leader
// publishes within 3 s, no read on a live node fails, and after the dead
// node comes back (it ships what it acknowledged as pending) every
// acknowledged write is served exactly once by every node.
func TestKillLeaderUnderWrites(t *testing.T) {
	nc := startNATS(t, 3, false)
	nodes := startNodes(t, nc.urls(), 3)
	hw := watchHeads(t, nc.urls())
	writes := startWrites(nodes, 6, 20*time.Second)
	reads := startReads(nodes, 20*time.Second)
	waitFor(t, 10*time.Second, "writes flowing", func() bool { return writes.count() > 200 })

	leader := leaderOf(nodes)
	k := slices.IndexFunc(nodes, func(n *node) bool { return n.id == leader })
	killed := killUnderLoad(nodes, k, writes, reads)
	var took time.Duration
	var next string
	waitFor(t, 10*time.Second, "a head by a new leader", func() bool {
		at, by := hw.firstBy(leader, killed)
		took, next = at.Sub(killed), by
		return by != ""
	})
	t.Logf("leader %s killed; %s published the first new head after %v", leader, next, took.Round(time.Millisecond))
	if took > 3*time.Second {
		t.Errorf("failover took %v, want < 3s", took)
	}
	afterFailover(t, nodes, k, writes, reads, 10*time.Second, 20*time.Second)
	hw.chain(t)
}

// killUnderLoad SIGKILLs node k after marking it down for the loads (its
// failures are expected from then on) and returns when it was killed.
func killUnderLoad(nodes []*node, k int, writes *writeLoad, reads *readLoad) time.Time {
	writes.down[k].Store(true)
	reads.down[k].Store(true)
	killed := time.Now()
	nodes[k].kill()
	return killed
}

// afterFailover waits for 200 more writes (within wait), stops the loads,
// checks no read on a live node failed, restarts the killed node k (it
// ships what it had acknowledged) and checks every acknowledged write is
// served exactly once by every node (within settle).
func afterFailover(t *testing.T, nodes []*node, k int, writes *writeLoad, reads *readLoad, wait, settle time.Duration) {
	t.Helper()
	before := writes.count()
	waitFor(t, wait, "writes after the failover", func() bool { return writes.count() > before+200 })
	writes.finish()
	reads.finish()
	if len(reads.fails) > 0 {
		t.Errorf("%d reads failed on live nodes, first: %s", len(reads.fails), reads.fails[0])
	}
	t.Logf("%d reads ok; %d writes acknowledged; failed posts %v", reads.ok.Load(), len(writes.acked), writes.fails)
	nodes[k].start()
	account(t, nodes, writes.acked, settle)
}
