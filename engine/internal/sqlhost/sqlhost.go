// Package sqlhost connects the project's SQL databases (engine/internal/sqldb,
// the [db.NAME] tables of jawas.toml) to the sources' "jawas" module
// (engine/internal/jsvm's DB interface): db(name).query(text, params) in a
// source becomes a Pools.Query on the pool every source shares.
//
// It owns the pools' lifetime: one set of pools per configuration, opened
// lazily by sqldb, replaced when the configuration is reloaded and closed
// with the engine, with the queries in flight cancelled first (Pools.Close
// waits for running queries). It must never run a query the caller did not
// ask for, and never outlive its Close.
package sqlhost

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/jawas/jawas/engine/internal/config"
	"github.com/jawas/jawas/engine/internal/jsvm"
	"github.com/jawas/jawas/engine/internal/sqldb"
)

// errReloaded is the cause given to the queries of a replaced set of pools.
var errReloaded = errors.New("the [db] configuration was reloaded")

// errClosed is the cause given to the queries in flight at Close.
var errClosed = errors.New("the engine is stopping")

// DB is a jsvm.DB over the databases of a configuration.
//
// Threading: Query is called concurrently by every source's host
// goroutines; Reconfigure and Close by the engine (dev mode's watcher, the
// engine's shutdown). All are safe together.
type DB struct {
	mu     sync.Mutex
	gen    *generation // nil after Close
	closed bool
}

// generation is one configuration's pools and the context every query on
// them runs under, cancelled before they are closed.
type generation struct {
	pools  *sqldb.Pools
	ctx    context.Context
	cancel context.CancelCauseFunc
	names  []string
}

var _ jsvm.DB = (*DB)(nil)

// Open declares cfg's databases; nothing connects until a source queries.
// A bad [db.NAME] url is an error naming the key (config.Validate catches
// it first in practice).
func Open(cfg *config.Config) (*DB, error) {
	g, err := newGeneration(cfg)
	if err != nil {
		return nil, err
	}
	return &DB{gen: g}, nil
}

func newGeneration(cfg *config.Config) (*generation, error) {
	dbs := make([]sqldb.Database, 0, len(cfg.DB))
	names := make([]string, 0, len(cfg.DB))
	for name, d := range cfg.DB {
		dbs = append(dbs, sqldb.Database{Name: name, URL: d.URL, Pool: d.DBPool(), StatementTimeout: d.StatementTimeout.Duration})
		names = append(names, name)
	}
	sort.Strings(names)
	pools, err := sqldb.New(cfg.Dir, dbs)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	return &generation{pools: pools, ctx: ctx, cancel: cancel, names: names}, nil
}

// close cancels the queries in flight, then closes the pools (which waits
// for those queries to return).
func (g *generation) close(cause error) {
	g.cancel(cause)
	g.pools.Close()
}

// Names lists the declared databases, sorted.
func (d *DB) Names() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.gen == nil {
		return nil
	}
	return d.gen.names
}

// Reconfigure replaces the pools with cfg's (dev mode, when jawas.toml
// changed): the new pools serve every query from now on, the old ones have
// their queries cancelled and are closed, so a reload leaks no connection
// and a changed url or replaced SQLite file takes effect. A query cut by
// the swap is run again on the new pools.
func (d *DB) Reconfigure(cfg *config.Config) error {
	g, err := newGeneration(cfg)
	if err != nil {
		return err
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		g.close(errClosed)
		return nil
	}
	old := d.gen
	d.gen = g
	d.mu.Unlock()
	old.close(errReloaded)
	return nil
}

// Close cancels every query in flight and closes the pools; queries after
// it fail. Safe to call twice, and on a nil DB.
func (d *DB) Close() {
	if d == nil {
		return
	}
	d.mu.Lock()
	g := d.gen
	d.gen, d.closed = nil, true
	d.mu.Unlock()
	if g != nil {
		g.close(errClosed)
	}
}

func (d *DB) current() *generation {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.gen
}

// Query implements jsvm.DB: text runs on database name with params bound,
// in a read-only transaction when readOnly is set. ctx is the render's;
// the query also stops when its pools are replaced or closed.
func (d *DB) Query(ctx context.Context, name, text string, params []any, readOnly bool) (jsvm.Rows, error) {
	access := sqldb.ReadWrite
	if readOnly {
		access = sqldb.ReadOnly
	}
	for attempt := 0; ; attempt++ {
		g := d.current()
		if g == nil {
			return jsvm.Rows{}, fmt.Errorf("%w: %w", sqldb.ErrClosed, errClosed)
		}
		res, err := g.query(ctx, name, text, params, access)
		if err == nil {
			return jsvm.Rows{Columns: res.Columns, Values: res.Rows}, nil
		}
		// Cut by a reload, not by the render: once more on the new pools.
		if attempt == 0 && ctx.Err() == nil && d.current() != g && (g.ctx.Err() != nil || errors.Is(err, sqldb.ErrClosed)) {
			continue
		}
		return jsvm.Rows{}, authorError(name, err)
	}
}

// query runs on g's pools under a context cancelled by either the caller
// or g's replacement.
func (g *generation) query(ctx context.Context, name, text string, params []any, access sqldb.Access) (*sqldb.Result, error) {
	qctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(g.ctx, func() { cancel(context.Cause(g.ctx)) })
	defer stop()
	return g.pools.Query(qctx, name, text, params, access)
}

// authorError drops sqldb's `db "NAME": ` prefix: the "jawas" module says
// `db("NAME").query: ` before it, and the name twice reads badly. The
// sentinels stay reachable with errors.Is.
func authorError(name string, err error) error {
	prefix := fmt.Sprintf("db %q: ", name)
	msg := err.Error()
	if !strings.HasPrefix(msg, prefix) {
		return err
	}
	return &trimmed{msg: strings.TrimPrefix(msg, prefix), err: err}
}

type trimmed struct {
	msg string
	err error
}

func (t *trimmed) Error() string { return t.msg }
func (t *trimmed) Unwrap() error { return t.err }
