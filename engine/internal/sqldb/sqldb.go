// Package sqldb owns the project's SQL databases ([db.NAME] in jawas.toml):
// one connection pool per database, shared by every source, opened on first
// use and closed on reload; queries with bound parameters, read-only unless
// the caller says otherwise, bounded by a statement timeout and by the
// caller's context; and one mapping of column values to JSON-able Go values
// for both drivers (SQLite through modernc.org/sqlite, PostgreSQL through
// pgx). It must never interpolate a parameter into query text, and never
// reach into other jawas packages: the caller translates config.DBConfig
// into a Database.
package sqldb

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Database declares one database.
type Database struct {
	Name string // the name sources pass to db("NAME")
	// URL is "sqlite:PATH" (PATH relative to the project directory unless
	// absolute) or "postgres://…" / "postgresql://…".
	URL              string
	Pool             int           // most connections at once; <= 0 means 4
	StatementTimeout time.Duration // longest single query; 0 = only ctx's deadline
}

// Access says whether a query may write.
type Access bool

const (
	// ReadOnly runs the query in a read-only transaction: a write fails
	// with ErrReadOnly. Renders use it.
	ReadOnly Access = false
	// ReadWrite lets the query write.
	ReadWrite Access = true
)

// Result is what a query returned: the columns in the order the query
// named them, and each row's values in that same order. Values are nil,
// bool, int64, float64, string, []any or map[string]any (see convert.go
// for the mapping of each database type).
type Result struct {
	Columns []string
	Rows    [][]any
}

// Errors a caller may test with errors.Is. The error returned always names
// the database and says what happened in words; these only classify it.
var (
	ErrUnknownDB        = errors.New("database not declared")
	ErrReadOnly         = errors.New("a read-only query tried to write")
	ErrStatementTimeout = errors.New("statement timeout")
	ErrUnreachable      = errors.New("database unreachable")
	ErrClosed           = errors.New("database pools closed")
)

// Pools holds one pool per declared database. Its methods are safe for
// concurrent use by every source runtime.
type Pools struct {
	dir string

	mu     sync.Mutex
	decl   map[string]Database
	open   map[string]backend
	closed bool
}

// backend is one database's pool, SQLite or PostgreSQL.
type backend interface {
	// query runs text with params bound; ctx carries the statement
	// timeout already. Errors are the driver's, classified by classify.
	query(ctx context.Context, text string, params []any, access Access) (*Result, error)
	// classify turns a driver error into a message for authors and marks
	// it with one of the Err* sentinels when one applies.
	classify(err error) error
	close()
}

// New declares the databases; dir is the project directory that relative
// SQLite paths are resolved against. Nothing is opened until a query needs
// it, but every URL is parsed now, so a bad one fails here.
func New(dir string, dbs []Database) (*Pools, error) {
	p := &Pools{dir: dir, decl: map[string]Database{}, open: map[string]backend{}}
	for _, d := range dbs {
		if _, dup := p.decl[d.Name]; dup {
			return nil, fmt.Errorf("db %q: declared twice", d.Name)
		}
		if _, err := parseURL(dir, d); err != nil {
			return nil, err
		}
		p.decl[d.Name] = d
	}
	return p, nil
}

// Names lists the declared databases, sorted.
func (p *Pools) Names() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	names := make([]string, 0, len(p.decl))
	for n := range p.decl {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Query runs text on database db with params bound to $1, $2, … (SQLite
// also takes ?). Parameters may be nil, bool, integers, float64, string,
// []byte, time.Time, or maps and slices (bound as JSON text). ctx's
// cancellation reaches the driver: SQLite is interrupted and PostgreSQL
// gets a cancel request. Errors name the database.
func (p *Pools) Query(ctx context.Context, db, text string, params []any, access Access) (*Result, error) {
	b, d, err := p.backend(db)
	if err != nil {
		return nil, err
	}
	args, err := bindParams(params)
	if err != nil {
		return nil, fmt.Errorf("db %q: %w", db, err)
	}
	qctx := ctx
	if d.StatementTimeout > 0 {
		var cancel context.CancelFunc
		qctx, cancel = context.WithTimeoutCause(ctx, d.StatementTimeout+clientGrace(d), ErrStatementTimeout)
		defer cancel()
	}
	res, err := b.query(qctx, text, args, access)
	if err == nil {
		return res, nil
	}
	switch {
	case ctx.Err() != nil:
		// The caller gave up (a render's budget, a reload): say so rather
		// than the driver's view of the interrupted query.
		return nil, fmt.Errorf("db %q: query cancelled: %w", db, context.Cause(ctx))
	case errors.Is(context.Cause(qctx), ErrStatementTimeout):
		return nil, timeoutError(d)
	}
	err = b.classify(err)
	if errors.Is(err, ErrStatementTimeout) {
		return nil, timeoutError(d)
	}
	return nil, fmt.Errorf("db %q: %w", db, err)
}

func timeoutError(d Database) error {
	return fmt.Errorf("db %q: %w: the query ran longer than %s ([db.%s] statement_timeout)", d.Name, ErrStatementTimeout, d.StatementTimeout, d.Name)
}

// clientGrace is how much longer than statement_timeout the client waits
// for a server that enforces the timeout itself (PostgreSQL), so the
// server's own cancellation is the one normally seen.
func clientGrace(d Database) time.Duration {
	if isSQLite(d.URL) {
		return 0
	}
	return time.Second
}

// backend returns db's pool, opening it on first use.
func (p *Pools) backend(db string) (backend, Database, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, Database{}, fmt.Errorf("db %q: %w (the project is reloading)", db, ErrClosed)
	}
	d, ok := p.decl[db]
	if !ok {
		known := "none are declared"
		if len(p.decl) > 0 {
			names := make([]string, 0, len(p.decl))
			for n := range p.decl {
				names = append(names, n)
			}
			sort.Strings(names)
			known = "declared: " + strings.Join(names, ", ")
		}
		return nil, Database{}, fmt.Errorf("db %q: %w: add a [db.%s] table with a url to jawas.toml (%s)", db, ErrUnknownDB, db, known)
	}
	if b, ok := p.open[db]; ok {
		return b, d, nil
	}
	u, err := parseURL(p.dir, d)
	if err != nil {
		return nil, d, err
	}
	var b backend
	if u.sqlitePath != "" {
		b, err = openSQLite(d, u.sqlitePath)
	} else {
		b, err = openPostgres(d, u.pgURL)
	}
	if err != nil {
		return nil, d, err
	}
	p.open[db] = b
	return b, d, nil
}

// Close closes every open pool; queries after it fail with ErrClosed. It
// waits for queries in flight to return: cancel their contexts first.
func (p *Pools) Close() {
	p.mu.Lock()
	open := p.open
	p.open = map[string]backend{}
	p.closed = true
	p.mu.Unlock()
	for _, b := range open {
		b.close()
	}
}

type parsedURL struct {
	sqlitePath string // absolute
	pgURL      string
}

func isSQLite(u string) bool { return strings.HasPrefix(u, "sqlite:") }

func parseURL(dir string, d Database) (parsedURL, error) {
	switch {
	case isSQLite(d.URL):
		path := strings.TrimPrefix(d.URL, "sqlite:")
		if path == "" || path == ":memory:" || strings.HasPrefix(path, "//") {
			return parsedURL{}, fmt.Errorf("db %q: url %q: expected a file path after \"sqlite:\" ([db.%s] url)", d.Name, d.URL, d.Name)
		}
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		return parsedURL{sqlitePath: path}, nil
	case strings.HasPrefix(d.URL, "postgres://"), strings.HasPrefix(d.URL, "postgresql://"):
		if err := checkPostgresURL(d.URL); err != nil {
			return parsedURL{}, fmt.Errorf("db %q: [db.%s] url: %w", d.Name, d.Name, err)
		}
		return parsedURL{pgURL: d.URL}, nil
	}
	return parsedURL{}, fmt.Errorf("db %q: [db.%s] url: unknown scheme (expected sqlite: or postgres://)", d.Name, d.Name)
}
