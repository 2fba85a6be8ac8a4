package sqldb

import (
	"context"
	"database/sql/driver"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"modernc.org/sqlite"
)

// sqliteStarted signals that a query calling jawas_test_started() is
// running, so a test can cancel it mid-statement rather than before it.
var (
	sqliteStartedMu sync.Mutex
	sqliteStarted   chan struct{}
)

func init() {
	// Registered before any connection opens: the driver adds it to each.
	sqlite.MustRegisterScalarFunction("jawas_test_started", 0, func(*sqlite.FunctionContext, []driver.Value) (driver.Value, error) {
		sqliteStartedMu.Lock()
		defer sqliteStartedMu.Unlock()
		if sqliteStarted != nil {
			close(sqliteStarted)
			sqliteStarted = nil
		}
		return int64(1), nil
	})
}

// newSQLite makes an empty SQLite file in a project directory and declares
// it as db "main" with url "sqlite:data/app.db".
func newSQLite(t testing.TB, timeout time.Duration) (*Pools, string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "data", "app.db")
	if err := os.WriteFile(path, nil, 0o644); err != nil { // an empty file is an empty database
		t.Fatal(err)
	}
	p, err := New(dir, []Database{{Name: "main", URL: "sqlite:data/app.db", Pool: 4, StatementTimeout: timeout}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p, path
}

func mustQuery(t testing.TB, p *Pools, db, text string, access Access, params ...any) *Result {
	t.Helper()
	res, err := p.Query(context.Background(), db, text, params, access)
	if err != nil {
		t.Fatalf("%s: %v", text, err)
	}
	return res
}

func TestSQLiteTypes(t *testing.T) {
	p, _ := newSQLite(t, 0)
	create, insert, nulls := typeTableSQL(true)
	for _, q := range []string{create, insert, nulls} {
		mustQuery(t, p, "main", q, ReadWrite)
	}
	checkTypeTable(t, p, "main")
}

func TestSQLiteColumnOrder(t *testing.T) {
	p, _ := newSQLite(t, 0)
	res := mustQuery(t, p, "main", "SELECT 3 AS z, 1 AS a, 2 AS m", ReadOnly)
	if !reflect.DeepEqual(res.Columns, []string{"z", "a", "m"}) || !reflect.DeepEqual(res.Rows, [][]any{{int64(3), int64(1), int64(2)}}) {
		t.Fatalf("got %v %v", res.Columns, res.Rows)
	}
	res = mustQuery(t, p, "main", "SELECT 1 AS a WHERE 0", ReadOnly)
	if res.Rows == nil || len(res.Rows) != 0 || !reflect.DeepEqual(res.Columns, []string{"a"}) {
		t.Fatalf("empty result: %#v", res)
	}
}

func TestSQLiteParams(t *testing.T) {
	p, _ := newSQLite(t, 0)
	mustQuery(t, p, "main", "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)", ReadWrite)
	mustQuery(t, p, "main", "INSERT INTO users (name) VALUES ($1), ($2)", ReadWrite, "ada", "bob")

	// $N binds by number, not by order of appearance.
	res := mustQuery(t, p, "main", "SELECT $2 AS b, $1 AS a", ReadOnly, "x", int64(2))
	if !reflect.DeepEqual(res.Rows[0], []any{int64(2), "x"}) {
		t.Fatalf("$2, $1 = %#v", res.Rows[0])
	}
	if res = mustQuery(t, p, "main", "SELECT ? AS a, ? AS b", ReadOnly, "x", int64(2)); !reflect.DeepEqual(res.Rows[0], []any{"x", int64(2)}) {
		t.Fatalf("?, ? = %#v", res.Rows[0])
	}

	// An injection attempt is a value compared, never SQL run.
	for _, evil := range []string{"x' OR '1'='1", "'; DROP TABLE users; --", "ada\x00"} {
		res = mustQuery(t, p, "main", "SELECT count(*) AS n FROM users WHERE name = $1", ReadOnly, evil)
		if res.Rows[0][0] != int64(0) {
			t.Fatalf("%q matched %v rows", evil, res.Rows[0][0])
		}
		res = mustQuery(t, p, "main", "SELECT $1 AS v", ReadOnly, evil)
		if res.Rows[0][0] != evil {
			t.Fatalf("%q came back as %#v", evil, res.Rows[0][0])
		}
	}
	if res = mustQuery(t, p, "main", "SELECT count(*) FROM users", ReadOnly); res.Rows[0][0] != int64(2) {
		t.Fatalf("users table has %v rows after the injection attempts", res.Rows[0][0])
	}

	// Every kind of parameter a JavaScript value exports to.
	when := time.Date(2024, 3, 5, 7, 7, 8, 123e6, time.FixedZone("x", 3600))
	res = mustQuery(t, p, "main", "SELECT $1 AS n, $2 AS t, $3 AS i, $4 AS f, $5 AS s, $6 AS b, $7 AS obj, $8 AS arr, $9 AS big, $10 AS bytes",
		ReadOnly, nil, true, 7, 2.5, "s", when, map[string]any{"k": 1}, []any{1, "a"}, new(big.Int).Lsh(big.NewInt(1), 70), []byte{1, 2})
	want := []any{nil, int64(1), int64(7), 2.5, "s", "2024-03-05 06:07:08.123+00:00", `{"k":1}`, `[1,"a"]`, "1180591620717411303424", "AQI="}
	if !reflect.DeepEqual(res.Rows[0], want) {
		t.Fatalf("parameters came back as\n%#v\nwant\n%#v", res.Rows[0], want)
	}
	_, err := p.Query(context.Background(), "main", "SELECT $1", []any{struct{}{}}, ReadOnly)
	if err == nil || !strings.Contains(err.Error(), `db "main": parameter $1: cannot bind a value of Go type struct {}`) {
		t.Fatalf("unbindable parameter: %v", err)
	}
}

func TestSQLiteReadOnlyRefusesInsert(t *testing.T) {
	p, _ := newSQLite(t, 0)
	mustQuery(t, p, "main", "CREATE TABLE posts (body TEXT)", ReadWrite)
	_, err := p.Query(context.Background(), "main", "INSERT INTO posts VALUES ($1)", []any{"hi"}, ReadOnly)
	if !errors.Is(err, ErrReadOnly) || !strings.Contains(err.Error(), `db "main": a read-only query tried to write (queries in a render run in a read-only transaction)`) {
		t.Fatalf("INSERT in a read-only query: %v", err)
	}
	for _, q := range []string{"DELETE FROM posts", "CREATE TABLE x (a)", "DROP TABLE posts"} {
		if _, err := p.Query(context.Background(), "main", q, nil, ReadOnly); !errors.Is(err, ErrReadOnly) {
			t.Errorf("%s in a read-only query: %v", q, err)
		}
	}
	if n := mustQuery(t, p, "main", "SELECT count(*) FROM posts", ReadOnly).Rows[0][0]; n != int64(0) {
		t.Fatalf("the refused INSERT wrote: %v rows", n)
	}
	mustQuery(t, p, "main", "INSERT INTO posts VALUES ($1)", ReadWrite, "hi")
	if n := mustQuery(t, p, "main", "SELECT count(*) FROM posts", ReadOnly).Rows[0][0]; n != int64(1) {
		t.Fatalf("a read-write INSERT did not write: %v rows", n)
	}
}

func TestSQLiteMissingTable(t *testing.T) {
	p, _ := newSQLite(t, 0)
	_, err := p.Query(context.Background(), "main", "SELECT * FROM nope", nil, ReadOnly)
	if err == nil || !strings.Contains(err.Error(), `db "main": `) || !strings.Contains(err.Error(), "no such table: nope") {
		t.Fatalf("missing table: %v", err)
	}
}

func TestSQLiteMissingFileIsNotCreated(t *testing.T) {
	dir := t.TempDir()
	p, err := New(dir, []Database{{Name: "main", URL: "sqlite:data/typo.db"}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	path := filepath.Join(dir, "data", "typo.db")
	_, err = p.Query(context.Background(), "main", "SELECT 1", nil, ReadOnly)
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), `[db.main] url = "sqlite:data/typo.db"`) {
		t.Fatalf("missing file: %v", err)
	}
	if _, err := os.Stat(path); err == nil {
		t.Fatal("the query created the missing database file")
	}
	// Once the file exists, the next query opens it.
	os.MkdirAll(filepath.Dir(path), 0o755)
	os.WriteFile(path, nil, 0o644)
	mustQuery(t, p, "main", "SELECT 1", ReadOnly)
}

func TestUnknownDatabase(t *testing.T) {
	p, _ := newSQLite(t, 0)
	_, err := p.Query(context.Background(), "stats", "SELECT 1", nil, ReadOnly)
	if !errors.Is(err, ErrUnknownDB) || !strings.Contains(err.Error(), `db "stats": database not declared: add a [db.stats] table with a url to jawas.toml (declared: main)`) {
		t.Fatalf("unknown db: %v", err)
	}
}

func TestNewRejectsBadURL(t *testing.T) {
	for _, d := range []Database{{Name: "m", URL: "mysql://x"}, {Name: "m", URL: "sqlite:"}, {Name: "m", URL: "postgres://h:notaport/x"}} {
		if _, err := New(t.TempDir(), []Database{d}); err == nil || !strings.Contains(err.Error(), `db "m"`) {
			t.Errorf("%q: %v", d.URL, err)
		}
	}
}

// infiniteSQLite never ends by itself: only an interrupt stops it.
const infiniteSQLite = "WITH RECURSIVE c(x) AS (SELECT jawas_test_started() UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"

// queryBounded runs a query that must end by itself (a statement timeout)
// and fails the test, rather than hanging it, when it does not.
func queryBounded(t *testing.T, p *Pools, text string) error {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		_, err := p.Query(context.Background(), "main", text, nil, ReadOnly)
		errc <- err
	}()
	select {
	case err := <-errc:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("the statement timeout did not end the query")
		return nil
	}
}

func TestSQLiteStatementTimeout(t *testing.T) {
	p, _ := newSQLite(t, 100*time.Millisecond)
	err := queryBounded(t, p, infiniteSQLite)
	if !errors.Is(err, ErrStatementTimeout) || !strings.Contains(err.Error(), `db "main": statement timeout: the query ran longer than 100ms ([db.main] statement_timeout)`) {
		t.Fatalf("endless query: %v", err)
	}
	mustQuery(t, p, "main", "SELECT 1", ReadOnly) // the connection is usable again
}

func TestSQLiteCancelReachesTheDriver(t *testing.T) {
	p, _ := newSQLite(t, 0)
	started := make(chan struct{})
	sqliteStartedMu.Lock()
	sqliteStarted = started
	sqliteStartedMu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := p.Query(ctx, "main", infiniteSQLite, nil, ReadOnly)
		errc <- err
	}()
	<-started // the statement is running
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), `db "main": query cancelled`) {
			t.Fatalf("cancelled query: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("an endless query kept running after its context was cancelled")
	}
	mustQuery(t, p, "main", "SELECT 1", ReadOnly)
}

func TestClosedPools(t *testing.T) {
	p, _ := newSQLite(t, 0)
	mustQuery(t, p, "main", "SELECT 1", ReadOnly)
	p.Close()
	if _, err := p.Query(context.Background(), "main", "SELECT 1", nil, ReadOnly); !errors.Is(err, ErrClosed) {
		t.Fatalf("query after Close: %v", err)
	}
}

func TestSQLiteConcurrentReaders(t *testing.T) {
	p, _ := newSQLite(t, 0)
	mustQuery(t, p, "main", "CREATE TABLE n (v INTEGER)", ReadWrite)
	mustQuery(t, p, "main", "INSERT INTO n VALUES (1), (2), (3)", ReadWrite)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				res, err := p.Query(context.Background(), "main", "SELECT sum(v) FROM n", nil, ReadOnly)
				if err == nil && res.Rows[0][0] != int64(6) {
					err = errors.New("wrong sum")
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func BenchmarkQuerySQLite(b *testing.B) {
	p, _ := newSQLite(b, 0)
	mustQuery(b, p, "main", "CREATE TABLE scores (id INTEGER PRIMARY KEY, name TEXT, score INTEGER)", ReadWrite)
	mustQuery(b, p, "main", "INSERT INTO scores (name, score) WITH RECURSIVE s(v) AS (SELECT 1 UNION ALL SELECT v + 1 FROM s WHERE v < 100) SELECT 'player' || v, v * 7 FROM s", ReadWrite)
	benchSmallQuery(b, p)
}

// benchSmallQuery measures one small indexed query, as a leaderboard
// source would make once per period.
func benchSmallQuery(b *testing.B, p *Pools) {
	ctx := context.Background()
	const q = "SELECT id, name, score FROM scores WHERE id = $1"
	mustQuery(b, p, "main", q, ReadOnly, int64(1))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		res, err := p.Query(ctx, "main", q, []any{int64(i%100 + 1)}, ReadOnly)
		if err != nil || len(res.Rows) != 1 {
			b.Fatal(err, res)
		}
	}
}
