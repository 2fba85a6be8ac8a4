package writes

import (
	"path/filepath"
	"testing"
	"time"
)

// TestRateTableBurstThenRate: a client gets its burst at once, then one
// write per interval, with the wait to its next write; clients are
// independent.
func TestRateTableBurstThenRate(t *testing.T) {
	tb := localRateTable(2, 3) // 2/s, burst 3: one write per 500 ms
	now := time.Now()
	for i := range 3 {
		if _, ok := tb.allow("10.0.0.1", now); !ok {
			t.Fatalf("write %d of the burst refused", i)
		}
	}
	wait, ok := tb.allow("10.0.0.1", now)
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("4th write at once: ok=%v wait=%v, want refused with 500ms", ok, wait)
	}
	if _, ok := tb.allow("10.0.0.2", now); !ok {
		t.Fatal("another client refused: limits must be per address")
	}
	if wait, ok := tb.allow("10.0.0.1", now.Add(400*time.Millisecond)); ok || wait != 100*time.Millisecond {
		t.Fatalf("after 400ms: ok=%v wait=%v, want refused with 100ms", ok, wait)
	}
	if _, ok := tb.allow("10.0.0.1", now.Add(500*time.Millisecond)); !ok {
		t.Fatal("after 500ms: refused, want one more write")
	}
	if _, ok := tb.allow("10.0.0.1", now.Add(500*time.Millisecond)); ok {
		t.Fatal("a second write after 500ms allowed: the rate is one per 500ms")
	}
	// Idle long enough to refill: the whole burst again, and no more.
	later := now.Add(time.Hour)
	for i := range 3 {
		if _, ok := tb.allow("10.0.0.1", later); !ok {
			t.Fatalf("after an hour, write %d of the burst refused", i)
		}
	}
	if _, ok := tb.allow("10.0.0.1", later); ok {
		t.Fatal("after an hour, burst+1 writes allowed")
	}
}

// TestRateTableShared: two mappings of one file (as two worker processes
// have) share each client's limit, and the epoch the first one set.
func TestRateTableShared(t *testing.T) {
	path := filepath.Join(t.TempDir(), "write-rate.shm")
	a, err := openRateTable(path, 1, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	b, err := openRateTable(path, 1, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer b.close()
	if a.epoch != b.epoch {
		t.Fatalf("epochs %d and %d: the second opener must use the first's", a.epoch, b.epoch)
	}
	now := time.Now()
	allowed := 0
	for i := range 10 { // alternate between the "workers"
		tb := a
		if i%2 == 1 {
			tb = b
		}
		if _, ok := tb.allow("192.0.2.7", now); ok {
			allowed++
		}
	}
	if allowed != 4 {
		t.Fatalf("%d writes allowed across two mappings, want the burst of 4 in all", allowed)
	}
}

// TestRateTableFull: with every probed slot held by a limited client, a
// new client still gets its burst (the least limited one is evicted), and
// the table never refuses a client that has not written.
func TestRateTableFull(t *testing.T) {
	tb := localRateTable(1, 2)
	tb.words = tb.words[:8] // a tiny table: many clients share probes
	now := time.Now()
	for i := range 100 {
		addr := "198.51.100." + string(rune('0'+i/10)) + string(rune('0'+i%10))
		if _, ok := tb.allow(addr, now); !ok {
			t.Fatalf("client %d refused its first write", i)
		}
	}
}

// TestRateTableWrap: a TAT that wrapped around 2^40 µs reads as passed,
// not as a client limited for days.
func TestRateTableWrap(t *testing.T) {
	tb := localRateTable(1, 1)
	now := time.Now()
	if _, ok := tb.allow("203.0.113.9", now); !ok {
		t.Fatal("first write refused")
	}
	// 2^40 µs later minus a little: the stored TAT compares as just ahead
	// of now modulo 2^40 unless the wrap is recognized.
	later := now.Add(time.Duration(1<<40-1) * time.Microsecond)
	if _, ok := tb.allow("203.0.113.9", later); !ok {
		t.Fatal("a write 12.7 days later refused: the wrapped TAT was read as ahead")
	}
}

func BenchmarkRateTable(b *testing.B) {
	tb := localRateTable(1e6, 1000)
	now := time.Now()
	for b.Loop() {
		tb.allow("127.0.0.1", now)
	}
}
