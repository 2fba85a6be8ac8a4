//go:build linux

package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/jawas/jawas/internal/pgtest"
)

// pgCalls is how many times PostgreSQL ran statements matching like, from
// pg_stat_statements.
func pgCalls(t *testing.T, srv *pgtest.Server, like string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgconn.Connect(ctx, srv.URL())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer c.Close(context.Background())
	res := c.ExecParams(ctx, "SELECT coalesce(sum(calls), 0)::text FROM pg_stat_statements WHERE query LIKE $1", [][]byte{[]byte(like)}, nil, nil, nil).Read()
	if res.Err != nil {
		t.Fatalf("pg_stat_statements: %v", res.Err)
	}
	var n int64
	for _, ch := range string(res.Rows[0][0]) {
		n = n*10 + int64(ch-'0')
	}
	return n
}

// TestE2EPostgresOncePerPeriod is the founding claim with a real
// database: a source querying PostgreSQL is evaluated once per period, so
// the server runs at most one query per period however many clients poll;
// when the server stops, the last good snapshot is served with
// X-Jawas-Stale and /_jawas/status shows the query's error at its line;
// when it returns, the source publishes again.
func TestE2EPostgresOncePerPeriod(t *testing.T) {
	srv := pgtest.Start(t, "shared_preload_libraries=pg_stat_statements")
	srv.Exec(`CREATE EXTENSION pg_stat_statements;
CREATE TABLE scores (name text, score int);
INSERT INTO scores VALUES ('ann', 30), ('bob', 20), ('cid', 10)`)

	dir := newProject(t)
	f, err := os.OpenFile(filepath.Join(dir, "jawas.toml"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("\n[db.pg]\nurl = \"" + srv.URL() + "\"\nstatement_timeout = \"5s\"\n")
	f.Close()
	writeFile(t, filepath.Join(dir, "sources", "top.ts"), `import { db } from "jawas";
export const period = "200ms";
export default async function render() {
  const rows = await db("pg").query("SELECT name, score FROM scores /* top */ ORDER BY score DESC LIMIT $1", [2]);
  return { top: rows };
}
`)
	const want = `{"top":[{"name":"ann","score":30},{"name":"bob","score":20}]}`
	s := startServe(t, dir, "--workers", "2")
	if r := s.waitOK("/top.json", 20*time.Second); string(r.body) != want {
		t.Fatalf("/top.json = %s", r.body)
	}

	before := pgCalls(t, srv, "%/* top */%")
	start := time.Now()
	const clients = 200
	l := startLoad(s.addr, "/top.json", clients, 2*time.Millisecond, 20*time.Second, 400_000)
	l.waitProgress(t, 20_000, 30*time.Second)
	l.stop()
	elapsed := time.Since(start)
	during := pgCalls(t, srv, "%/* top */%") - before
	periods := int(elapsed/(200*time.Millisecond)) + 1
	t.Logf("%d clients, %v: %d snapshot requests (%s), PostgreSQL ran the query %d times in %d periods",
		clients, elapsed.Round(time.Millisecond), l.ok.Load(), l, during, periods)
	if during > int64(periods)+1 {
		t.Errorf("PostgreSQL ran the query %d times in %v (%d periods of 200ms): more than once per period", during, elapsed, periods)
	}
	if during < int64(periods)/2 {
		t.Errorf("PostgreSQL ran the query only %d times in %d periods: the source is not evaluated every period", during, periods)
	}
	if l.ok.Load() < 20*during {
		t.Errorf("clients got %d responses for %d queries", l.ok.Load(), during)
	}
	if errs := l.errors(); len(errs) > 0 || l.fails.Load() > 0 || l.badStatus.Load() > 0 {
		t.Errorf("load failures: %s %v", l, errs)
	}

	// The server stops: the last good snapshot is served, marked stale,
	// and the status shows the query's error at its line.
	srv.Stop()
	r := s.waitFor("/top.json", "X-Jawas-Stale", 30*time.Second, func(r *resp) bool { return r.header.Get("X-Jawas-Stale") != "" })
	if r.status != 200 || string(r.body) != want {
		t.Errorf("stale snapshot: %d %s", r.status, r.body)
	}
	s.waitFor("/_jawas/status", "the error in the status", 30*time.Second, func(r *resp) bool {
		b := string(r.body)
		return strings.Contains(b, `"consecutive_failures": `) && strings.Contains(b, `"file": "sources/top.ts"`) &&
			strings.Contains(b, `"line": 4`) && strings.Contains(b, `db(\"pg\").query: `)
	})
	if n := s.countLog(`msg="source failed`); n != 1 {
		t.Errorf("logged %d failures, want 1 for the streak:\n%s", n, s.log())
	}

	// It comes back: the pool reconnects, the header goes away.
	srv.Restart()
	srv.Exec("UPDATE scores SET score = 40 WHERE name = 'cid'")
	r = s.waitFor("/top.json", "a fresh snapshot", 30*time.Second, func(r *resp) bool {
		return r.status == 200 && r.header.Get("X-Jawas-Stale") == "" && strings.Contains(string(r.body), "cid")
	})
	if got := string(r.body); got != `{"top":[{"name":"cid","score":40},{"name":"ann","score":30}]}` {
		t.Errorf("after recovery: %s", got)
	}
	s.waitLog(`source works again`, 1, 10*time.Second)
}

// TestE2EBuildQueriesSQLite: `jawas build` runs a source's query once and
// writes its result; a query error fails the build with the file:line.
func TestE2EBuildQueriesSQLite(t *testing.T) {
	dir := newProject(t)
	f, err := os.OpenFile(filepath.Join(dir, "jawas.toml"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("\n[db.main]\nurl = \"sqlite:data/app.db\"\n")
	f.Close()
	writeFile(t, filepath.Join(dir, "data", "app.db"), "") // an empty file is an empty database
	writeFile(t, filepath.Join(dir, "sources", "n.js"), `import { db } from "jawas";
export default async () => (await db("main").query("SELECT 6 * 7 AS n, 'x' || ? AS s", ["y"]))[0];
`)
	code, stdout, stderr := runJawas(t, dir, "build")
	if code != 0 {
		t.Fatalf("build exited %d:\n%s\n%s", code, stdout, stderr)
	}
	got, err := os.ReadFile(filepath.Join(dir, "dist", "n.json"))
	if err != nil || string(got) != `{"n":42,"s":"xy"}` {
		t.Fatalf("dist/n.json = %s %v", got, err)
	}

	writeFile(t, filepath.Join(dir, "sources", "n.js"), `import { db } from "jawas";

export default async () => db("main").query("SELECT * FROM nope");
`)
	code, stdout, stderr = runJawas(t, dir, "build")
	if code == 0 || !strings.Contains(stderr, "sources/n.js:3") || !strings.Contains(stderr, `db("main").query: SQL logic error: no such table: nope`) {
		t.Errorf("build of a failing query exited %d:\n%s\n%s", code, stdout, stderr)
	}
}
