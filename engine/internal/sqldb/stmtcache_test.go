package sqldb

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"modernc.org/sqlite"
)

// compiles counts, per SQLite file, how often a statement reading the
// column probe.v was compiled: SQLite's authorizer runs while a statement
// is prepared (and re-prepared after a schema change), never while it runs.
var (
	compilesMu sync.Mutex
	compiles   = map[string]*atomic.Int64{} // by file path
)

func init() {
	sqlite.RegisterConnectionHook(func(c sqlite.ExecQuerierContext, dsn string) error {
		compilesMu.Lock()
		var n *atomic.Int64
		for path, cnt := range compiles {
			if strings.Contains(dsn, path) {
				n = cnt
			}
		}
		compilesMu.Unlock()
		if n == nil {
			return nil
		}
		return c.(sqlite.AuthorizerRegisterer).RegisterAuthorizer(func(action sqlite.AuthorizerActionCode, table, column, _, _ string) sqlite.AuthorizerReturnCode {
			if action == sqlite.AuthRead && table == "probe" && column == "v" {
				n.Add(1)
			}
			return sqlite.AuthorizerOK
		})
	})
}

// countCompiles starts counting the compiles of statements reading
// probe.v on path's connections opened from now on.
func countCompiles(t *testing.T, path string) *atomic.Int64 {
	n := new(atomic.Int64)
	compilesMu.Lock()
	compiles[path] = n
	compilesMu.Unlock()
	t.Cleanup(func() {
		compilesMu.Lock()
		delete(compiles, path)
		compilesMu.Unlock()
	})
	return n
}

// TestSQLiteQueriesArePreparedOnce: a query run again and again (a source
// each period) is compiled once per connection, not once per run; a
// different text is compiled on its own.
func TestSQLiteQueriesArePreparedOnce(t *testing.T) {
	p, path := newSQLite(t, 0)
	n := countCompiles(t, path)
	mustQuery(t, p, "main", "CREATE TABLE probe (v INTEGER)", ReadWrite)
	mustQuery(t, p, "main", "INSERT INTO probe VALUES (1), (2), (3)", ReadWrite)
	const q = "SELECT sum(v) FROM probe WHERE rowid >= ?" // v read once: one authorizer call per compile
	for i := range 50 {
		res := mustQuery(t, p, "main", q, ReadOnly, int64(i%3+1))
		if want := int64(6 - (i%3)*(i%3+1)/2); res.Rows[0][0] != want {
			t.Fatalf("run %d: sum %v, want %d", i, res.Rows[0][0], want)
		}
	}
	// Sequential runs reuse one connection: one compile (4 at most, one per
	// connection of the pool).
	if got := n.Load(); got < 1 || got > 4 {
		t.Fatalf("50 runs of one query compiled it %d times, want 1 (at most 4, one per connection)", got)
	}
	before := n.Load()
	mustQuery(t, p, "main", "SELECT v FROM probe", ReadOnly)
	if got := n.Load() - before; got != 1 {
		t.Fatalf("a new text compiled %d times, want 1", got)
	}
}

// TestSQLiteCachedStatementsSeeChanges: a prepared query answers from the
// data and the schema as they are now: rows written since, a column
// added, the table dropped (an error naming it) and created again with
// other columns.
func TestSQLiteCachedStatementsSeeChanges(t *testing.T) {
	p, _ := newSQLite(t, 0)
	mustQuery(t, p, "main", "CREATE TABLE probe (v INTEGER)", ReadWrite)
	mustQuery(t, p, "main", "INSERT INTO probe VALUES (1)", ReadWrite)
	const q = "SELECT * FROM probe ORDER BY 1"
	check := func(step string, cols []string, rows [][]any) {
		t.Helper()
		res := mustQuery(t, p, "main", q, ReadOnly)
		if !reflect.DeepEqual(res.Columns, cols) || !reflect.DeepEqual(res.Rows, rows) {
			t.Fatalf("%s: %v %v, want %v %v", step, res.Columns, res.Rows, cols, rows)
		}
	}
	check("first", []string{"v"}, [][]any{{int64(1)}})
	mustQuery(t, p, "main", "INSERT INTO probe VALUES (2)", ReadWrite)
	check("after an insert", []string{"v"}, [][]any{{int64(1)}, {int64(2)}})
	mustQuery(t, p, "main", "ALTER TABLE probe ADD COLUMN w TEXT DEFAULT 'x'", ReadWrite)
	check("after a column was added", []string{"v", "w"}, [][]any{{int64(1), "x"}, {int64(2), "x"}})
	mustQuery(t, p, "main", "DROP TABLE probe", ReadWrite)
	if _, err := p.Query(context.Background(), "main", q, nil, ReadOnly); err == nil || !strings.Contains(err.Error(), "no such table: probe") {
		t.Fatalf("after the table was dropped: %v, want no such table", err)
	}
	mustQuery(t, p, "main", "CREATE TABLE probe (a TEXT, b INTEGER)", ReadWrite)
	mustQuery(t, p, "main", "INSERT INTO probe VALUES ('z', 9)", ReadWrite)
	check("after the table was created again", []string{"a", "b"}, [][]any{{"z", int64(9)}})
}

// TestSQLiteStatementCacheIsBounded: more distinct texts than the cache
// holds keep it at its bound, the least recently used go first (compiled
// again when run again), and Close empties it.
func TestSQLiteStatementCacheIsBounded(t *testing.T) {
	p, path := newSQLite(t, 0)
	n := countCompiles(t, path)
	mustQuery(t, p, "main", "CREATE TABLE probe (v INTEGER)", ReadWrite)
	text := func(i int) string { return fmt.Sprintf("SELECT v + %d FROM probe", i) }
	for i := range stmtCacheSize + 10 {
		mustQuery(t, p, "main", text(i), ReadOnly)
	}
	b, _, err := p.backend("main")
	if err != nil {
		t.Fatal(err)
	}
	ro, err := b.(*sqliteDB).pool(ReadOnly)
	if err != nil {
		t.Fatal(err)
	}
	if got := ro.stmts.len(); got != stmtCacheSize {
		t.Fatalf("%d texts run: %d statements kept, want %d", stmtCacheSize+10, got, stmtCacheSize)
	}
	before := n.Load()
	mustQuery(t, p, "main", text(stmtCacheSize+9), ReadOnly) // the most recent: kept
	if got := n.Load() - before; got != 0 {
		t.Fatalf("the most recent text compiled again (%d)", got)
	}
	mustQuery(t, p, "main", text(0), ReadOnly) // the oldest: evicted
	if got := n.Load() - before; got != 1 {
		t.Fatalf("the evicted text compiled %d times, want 1", got)
	}
	p.Close()
	if got := ro.stmts.len(); got != 0 {
		t.Fatalf("after Close: %d statements kept", got)
	}
}
