package sqldb

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/jawas/jawas/internal/pgtest"
)

// newPostgres starts a real server and declares it as db "main".
func newPostgres(t testing.TB, timeout time.Duration) (*Pools, *pgtest.Server) {
	t.Helper()
	srv := pgtest.Start(t)
	p, err := New(t.TempDir(), []Database{{Name: "main", URL: srv.URL(), Pool: 4, StatementTimeout: timeout}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close) // registered after the server's: runs before it stops
	return p, srv
}

func TestPostgresTypes(t *testing.T) {
	p, srv := newPostgres(t, 0)
	create, insert, nulls := typeTableSQL(false)
	srv.Exec(create + "; " + insert + "; " + nulls)
	checkTypeTable(t, p, "main")

	// Types SQLite has no counterpart for: their text form.
	res := mustQuery(t, p, "main", `SELECT 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS u, '1 day 02:00:00'::interval AS iv,
		'10.0.0.1'::inet AS ip, ARRAY[1,2,NULL]::int8[] AS arr, ARRAY['2024-03-05'::date] AS dates, 'NaN'::numeric AS nan,
		'infinity'::timestamptz AS inf, '12:34:56'::time AS tod, 4294967295::oid AS o, 'x'::name AS nm, 'NaN'::float8 AS fnan`, ReadOnly)
	want := []any{"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "1 day 02:00:00", "10.0.0.1", []any{int64(1), int64(2), nil}, []any{"2024-03-05"}, "NaN",
		"infinity", "12:34:56.000000", int64(4294967295), "x", "NaN"}
	for i, w := range want {
		if got := res.Rows[0][i]; !reflect.DeepEqual(got, w) {
			t.Errorf("%s: got %#v, want %#v", res.Columns[i], got, w)
		}
	}
}

func TestPostgresParams(t *testing.T) {
	p, srv := newPostgres(t, 0)
	srv.Exec("CREATE TABLE users (id serial PRIMARY KEY, name text, big int8, doc jsonb); INSERT INTO users (name) VALUES ('ada'), ('bob')")
	res := mustQuery(t, p, "main", "SELECT $2::int AS b, $1::text AS a", ReadOnly, "x", int64(2))
	if !reflect.DeepEqual(res.Columns, []string{"b", "a"}) || !reflect.DeepEqual(res.Rows[0], []any{int64(2), "x"}) {
		t.Fatalf("$2, $1 = %v %#v", res.Columns, res.Rows[0])
	}
	for _, evil := range []string{"x' OR '1'='1", "'; DROP TABLE users; --"} {
		if n := mustQuery(t, p, "main", "SELECT count(*) FROM users WHERE name = $1", ReadOnly, evil).Rows[0][0]; n != int64(0) {
			t.Fatalf("%q matched %v rows", evil, n)
		}
	}
	if n := mustQuery(t, p, "main", "SELECT count(*) FROM users", ReadOnly).Rows[0][0]; n != int64(2) {
		t.Fatalf("users has %v rows after the injection attempts", n)
	}
	// An object binds as JSON, a BigInt beyond int64's range of JavaScript
	// numbers as its decimal text, a Date as a timestamp.
	mustQuery(t, p, "main", "UPDATE users SET doc = $1, big = $2 WHERE name = 'ada'", ReadWrite, map[string]any{"k": []any{1, "a"}}, "9007199254740993")
	res = mustQuery(t, p, "main", "SELECT doc, big, doc->'k'->>1 AS second FROM users WHERE name = 'ada'", ReadOnly)
	if raw, ok := res.Rows[0][0].(json.RawMessage); ok { // a JSON column's text
		var doc any
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatal(err)
		}
		res.Rows[0][0] = doc
	}
	if want := []any{map[string]any{"k": []any{1.0, "a"}}, "9007199254740993", "a"}; !reflect.DeepEqual(res.Rows[0], want) {
		t.Fatalf("JSON and big parameters: %#v", res.Rows[0])
	}
	when := time.Date(2024, 3, 5, 7, 7, 8, 123e6, time.FixedZone("x", 3600))
	if got := mustQuery(t, p, "main", "SELECT $1::timestamptz AS t", ReadOnly, when).Rows[0][0]; got != "2024-03-05T06:07:08.123Z" {
		t.Fatalf("time parameter: %#v", got)
	}
}

func TestPostgresReadOnlyRefusesInsert(t *testing.T) {
	p, srv := newPostgres(t, 0)
	srv.Exec("CREATE TABLE posts (body text)")
	_, err := p.Query(context.Background(), "main", "INSERT INTO posts VALUES ($1)", []any{"hi"}, ReadOnly)
	if !errors.Is(err, ErrReadOnly) || !strings.Contains(err.Error(), `db "main": a read-only query tried to write (queries in a render run in a read-only transaction): ERROR: cannot execute INSERT in a read-only transaction (SQLSTATE 25006)`) {
		t.Fatalf("INSERT in a read-only query: %v", err)
	}
	if n := mustQuery(t, p, "main", "SELECT count(*) FROM posts", ReadOnly).Rows[0][0]; n != int64(0) {
		t.Fatalf("the refused INSERT wrote: %v rows", n)
	}
	res := mustQuery(t, p, "main", "INSERT INTO posts VALUES ($1) RETURNING body", ReadWrite, "hi")
	if !reflect.DeepEqual(res.Rows, [][]any{{"hi"}}) {
		t.Fatalf("read-write INSERT … RETURNING: %#v", res.Rows)
	}
}

func TestPostgresMissingTable(t *testing.T) {
	p, _ := newPostgres(t, 0)
	_, err := p.Query(context.Background(), "main", "SELECT * FROM nope", nil, ReadOnly)
	if err == nil || !strings.Contains(err.Error(), `db "main": ERROR: relation "nope" does not exist (SQLSTATE 42P01) (at character 15 of the query)`) {
		t.Fatalf("missing table: %v", err)
	}
}

func TestPostgresStatementTimeout(t *testing.T) {
	p, _ := newPostgres(t, 100*time.Millisecond)
	err := queryBounded(t, p, "SELECT pg_sleep(3600)")
	if !errors.Is(err, ErrStatementTimeout) || !strings.Contains(err.Error(), `db "main": statement timeout: the query ran longer than 100ms ([db.main] statement_timeout)`) {
		t.Fatalf("endless query: %v", err)
	}
	// The server enforces it (the client's own deadline is only a backstop
	// for a server that does not answer).
	if got := mustQuery(t, p, "main", "SHOW statement_timeout", ReadOnly).Rows[0][0]; got != "100ms" {
		t.Fatalf("server statement_timeout = %#v", got)
	}
}

// activeSleeps counts the server's sessions running pg_sleep.
func activeSleeps(t *testing.T, p *Pools) int64 {
	t.Helper()
	res := mustQuery(t, p, "main", "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE 'SELECT pg_sleep%'", ReadOnly)
	return res.Rows[0][0].(int64)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestPostgresCancelStopsTheServerQuery(t *testing.T) {
	p, srv := newPostgres(t, 0)
	for range 3 {
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			_, err := p.Query(ctx, "main", "SELECT pg_sleep(3600)", nil, ReadOnly)
			errc <- err
		}()
		waitFor(t, "the query to run on the server", func() bool { return activeSleeps(t, p) == 1 })
		cancel()
		select {
		case err := <-errc:
			if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), `db "main": query cancelled`) {
				t.Fatalf("cancelled query: %v", err)
			}
		case <-time.After(30 * time.Second):
			srv.Stop() // or Close would wait for the query
			t.Fatal("the query kept running after its context was cancelled")
		}
		// The server stopped running it too, not just the client waiting.
		waitFor(t, "the server to stop the cancelled query", func() bool { return activeSleeps(t, p) == 0 })
	}
	// A cancelled query keeps its connection: two were ever opened, the
	// sleeping query's and the one asking pg_stat_activity.
	b, _, _ := p.backend("main")
	if n := b.(*pgDB).ro.Stat().NewConnsCount(); n > 2 {
		t.Fatalf("%d connections opened for 3 cancelled queries and their probes: cancelling broke connections", n)
	}
}

func TestPostgresServerStopAndRecovery(t *testing.T) {
	p, srv := newPostgres(t, 0)
	srv.Exec("CREATE TABLE scores (name text, score int); INSERT INTO scores VALUES ('ada', 3)")
	const q = "SELECT name, score FROM scores"
	mustQuery(t, p, "main", q, ReadOnly)
	srv.Stop()
	for i := range 3 { // a dead pooled connection, then refused connects
		_, err := p.Query(context.Background(), "main", q, nil, ReadOnly)
		if !errors.Is(err, ErrUnreachable) || !strings.HasPrefix(err.Error(), `db "main": database unreachable: `) {
			t.Fatalf("query %d with the server stopped: %v", i, err)
		}
		t.Logf("server stopped: %v", err)
	}
	srv.Restart()
	var res *Result
	waitFor(t, "the pool to reconnect", func() bool {
		var err error
		res, err = p.Query(context.Background(), "main", q, nil, ReadOnly)
		if err != nil && !errors.Is(err, ErrUnreachable) {
			t.Fatalf("after restart: %v", err)
		}
		return err == nil
	})
	if !reflect.DeepEqual(res.Rows, [][]any{{"ada", int64(3)}}) {
		t.Fatalf("after recovery: %#v", res.Rows)
	}
}

func BenchmarkQueryPostgres(b *testing.B) {
	p, srv := newPostgres(b, 0)
	srv.Exec("CREATE TABLE scores (id serial PRIMARY KEY, name text, score int); INSERT INTO scores (name, score) SELECT 'player' || i, i * 7 FROM generate_series(1, 100) i")
	benchSmallQuery(b, p)
}

// BenchmarkQueryPostgresBeginReadOnly is the baseline the read-only pool
// replaced: the same query in BEGIN READ ONLY … COMMIT, three round trips.
func BenchmarkQueryPostgresBeginReadOnly(b *testing.B) {
	srv := pgtest.Start(b)
	srv.Exec("CREATE TABLE scores (id serial PRIMARY KEY, name text, score int); INSERT INTO scores (name, score) SELECT 'player' || i, i * 7 FROM generate_series(1, 100) i")
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, srv.URL())
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		tx, err := pool.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
		if err != nil {
			b.Fatal(err)
		}
		rows, _ := tx.Query(ctx, "SELECT id, name, score FROM scores WHERE id = $1", int64(i%100+1))
		n := 0
		for rows.Next() {
			if _, err := rows.Values(); err != nil {
				break
			}
			n++
		}
		if err := rows.Err(); err != nil || n != 1 {
			tx.Rollback(ctx) // or pool.Close would wait for the connection
			b.Fatal(err, n)
		}
		if err := tx.Commit(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
