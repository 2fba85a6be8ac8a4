// This file implements SQLite databases with modernc.org/sqlite (pure Go,
// no cgo). Each database gets two database/sql pools over the same file:
// read-only connections (PRAGMA query_only, up to Pool of them) for
// renders, and one read-write connection, because SQLite takes one writer
// at a time anyway. Each pool keeps its queries prepared (stmtCache): a
// source runs the same text every period, and compiling it again each
// time was a third of its cost. jawas never creates the file: a mistyped
// path is an error naming it, not an empty database that has "no such
// table".
package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// sqliteBusyTimeout is how long a query waits for another connection's (or
// process's) write lock before SQLite reports "database is locked"; the
// caller's context ends the wait sooner.
const sqliteBusyTimeout = 5 * time.Second

type sqliteDB struct {
	d    Database
	path string

	mu     sync.Mutex
	ro, rw *sqlitePool // opened on first use of each access mode
}

// sqlitePool is one access mode's connections and their prepared queries.
type sqlitePool struct {
	db    *sql.DB
	stmts stmtCache
}

func openSQLite(d Database, path string) (backend, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("db %q: %w: SQLite file %s: %v ([db.%s] url = %q; jawas does not create it)", d.Name, ErrUnreachable, path, errors.Unwrap(err), d.Name, d.URL)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("db %q: %w: %s is a directory, not a SQLite file ([db.%s] url = %q)", d.Name, ErrUnreachable, path, d.Name, d.URL)
	}
	return &sqliteDB{d: d, path: path}, nil
}

// pool returns the pool for access, opening it on first use.
func (s *sqliteDB) pool(access Access) (*sqlitePool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := &s.ro
	if access == ReadWrite {
		p = &s.rw
	}
	if *p != nil {
		return *p, nil
	}
	q := url.Values{}
	q.Set("mode", "rw") // never create the file
	q.Set("_pragma", fmt.Sprintf("busy_timeout(%d)", sqliteBusyTimeout.Milliseconds()))
	q.Set("_time_format", "sqlite") // time.Time parameters as "YYYY-MM-DD HH:MM:SS.SSS+00:00"
	if access == ReadOnly {
		q.Set("_query_only", "1")
	}
	dsn := (&url.URL{Scheme: "file", Path: s.path, RawQuery: q.Encode()}).String()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	n := s.d.Pool
	if n <= 0 {
		n = 4
	}
	if access == ReadWrite {
		n = 1
	}
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	*p = &sqlitePool{db: db, stmts: stmtCache{max: stmtCacheSize}}
	return *p, nil
}

func (s *sqliteDB) query(ctx context.Context, text string, params []any, access Access) (*Result, error) {
	p, err := s.pool(access)
	if err != nil {
		return nil, err
	}
	st, owned, err := p.stmts.get(ctx, p.db, text)
	if err != nil {
		return nil, err
	}
	if owned {
		defer st.Close()
	}
	res, err := scanSQLite(ctx, st, params)
	if err != nil && !owned && ctx.Err() == nil {
		// Prepared afresh next time: whatever the failure left in the
		// statement goes with it (SQLite re-prepares a statement after a
		// schema change itself; this is only a second line).
		p.stmts.evict(text, st)
	}
	return res, err
}

func scanSQLite(ctx context.Context, st *sql.Stmt, params []any) (*Result, error) {
	rows, err := st.QueryContext(ctx, params...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	types, err := rows.ColumnTypes()
	if err != nil {
		return nil, err
	}
	kinds := make([]sqliteKind, len(cols))
	for i, t := range types {
		kinds[i] = sqliteKindOf(t.DatabaseTypeName())
	}
	res := &Result{Columns: cols, Rows: [][]any{}}
	ptrs := make([]any, len(cols))
	for rows.Next() {
		vals := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		for i, v := range vals {
			vals[i] = sqliteValue(kinds[i], v)
		}
		res.Rows = append(res.Rows, vals)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return res, nil
}

func (s *sqliteDB) classify(err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_READONLY:
		return fmt.Errorf("%w (queries in a render run in a read-only transaction): %v", ErrReadOnly, err)
	case sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT:
		return fmt.Errorf("%w: %s: %v", ErrUnreachable, s.path, err)
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return fmt.Errorf("%v (another connection or process held a write lock for longer than %s)", err, sqliteBusyTimeout)
	}
	return err
}

func (s *sqliteDB) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range []*sqlitePool{s.ro, s.rw} {
		if p != nil {
			p.stmts.close()
			p.db.Close()
		}
	}
	s.ro, s.rw = nil, nil
}

// sqliteKind is the mapping a column's declared type selects.
type sqliteKind uint8

const (
	sqliteAny sqliteKind = iota
	sqliteBool
	sqliteJSON
	sqliteNumeric
	sqliteDate
	sqliteTimestamp
)

func sqliteKindOf(decl string) sqliteKind {
	decl = strings.ToUpper(decl)
	switch {
	case strings.Contains(decl, "BOOL"):
		return sqliteBool
	case strings.HasPrefix(decl, "JSON"):
		return sqliteJSON
	case strings.HasPrefix(decl, "NUMERIC"), strings.HasPrefix(decl, "DECIMAL"):
		return sqliteNumeric
	case decl == "DATE":
		return sqliteDate
	case strings.HasPrefix(decl, "DATETIME"), strings.HasPrefix(decl, "TIMESTAMP"):
		return sqliteTimestamp
	}
	return sqliteAny
}

// sqliteTimeLayouts are SQLite's time formats (lang_datefunc.html), with
// and without a zone, as the driver parses them for DATE, DATETIME and
// TIMESTAMP columns; other TIMESTAMP… declarations get the same here.
var sqliteTimeLayouts = []string{
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04",
	"2006-01-02T15:04",
	"2006-01-02",
}

// sqliteValue maps one value as database/sql scanned it (nil, int64,
// float64, string, []byte, time.Time) by its column's kind.
func sqliteValue(k sqliteKind, v any) any {
	switch x := v.(type) {
	case nil:
		return nil
	case int64:
		switch k {
		case sqliteBool:
			return x != 0
		case sqliteNumeric:
			return strconv.FormatInt(x, 10)
		}
		return intValue(x)
	case float64:
		if k == sqliteNumeric && !math.IsInf(x, 0) {
			return strconv.FormatFloat(x, 'f', -1, 64)
		}
		return floatValue(x)
	case time.Time:
		if k == sqliteDate {
			return dateValue(x)
		}
		return timestampValue(x)
	case string:
		switch k {
		case sqliteJSON:
			return jsonValue([]byte(x))
		case sqliteTimestamp, sqliteDate:
			for _, l := range sqliteTimeLayouts {
				if t, err := time.Parse(l, x); err == nil {
					if k == sqliteDate {
						return dateValue(t)
					}
					return timestampValue(t)
				}
			}
		}
		return x
	case []byte:
		if k == sqliteJSON {
			return jsonValue(x)
		}
		return bytesValue(x)
	}
	return fmt.Sprint(v)
}
