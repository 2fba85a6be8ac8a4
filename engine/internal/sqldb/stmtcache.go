package sqldb

import (
	"container/list"
	"context"
	"database/sql"
	"sync"
)

// stmtCacheSize bounds the prepared statements a pool keeps. Sources write
// their queries as constant text with parameters, so a project's queries
// are a few dozen at most; a source that builds its text anew each render
// (values spliced in) only cycles the least recently used out.
const stmtCacheSize = 128

// stmtCache keeps one prepared statement per query text for a
// database/sql pool (SQLite: pgx caches statements per connection
// itself). database/sql prepares a cached statement again on each
// connection that runs it, once; SQLite recompiles a prepared statement
// by itself when the schema changed under it (sqlite3_prepare_v2), so a
// cached statement never answers from an old schema. It is closed with
// its pool, before the pool's connections.
//
// Threading: every method is safe for concurrent use. A statement
// evicted while a query runs on it is closed when that query ends
// (database/sql's Stmt.Close).
type stmtCache struct {
	max int

	mu     sync.Mutex
	byText map[string]*list.Element // values: *cachedStmt
	lru    list.List                // most recently used first
	closed bool
}

type cachedStmt struct {
	text string
	st   *sql.Stmt
}

// get returns text prepared on db. owned says the statement is not in the
// cache (the cache was closed while it was prepared): the caller closes it
// after use.
func (c *stmtCache) get(ctx context.Context, db *sql.DB, text string) (st *sql.Stmt, owned bool, err error) {
	c.mu.Lock()
	if e, ok := c.byText[text]; ok {
		c.lru.MoveToFront(e)
		st := e.Value.(*cachedStmt).st
		c.mu.Unlock()
		return st, false, nil
	}
	c.mu.Unlock()
	// Prepared outside the lock: a slow compile (or a lock wait) holds up
	// no other query. A failed one is not kept: the same text is compiled
	// again next time, so a table created later is found.
	st, err = db.PrepareContext(ctx, text)
	if err != nil {
		return nil, false, err
	}
	// Statements dropped here are closed after the lock is released:
	// Stmt.Close waits for a query being started on the statement, and
	// no other query should wait for that.
	var drop []*sql.Stmt
	defer func() {
		for _, d := range drop {
			d.Close()
		}
	}()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return st, true, nil
	}
	if e, ok := c.byText[text]; ok { // another query prepared it meanwhile
		drop = append(drop, st)
		c.lru.MoveToFront(e)
		return e.Value.(*cachedStmt).st, false, nil
	}
	if c.byText == nil {
		c.byText = map[string]*list.Element{}
	}
	c.byText[text] = c.lru.PushFront(&cachedStmt{text: text, st: st})
	for c.lru.Len() > max(c.max, 1) {
		old := c.lru.Back()
		c.lru.Remove(old)
		cs := old.Value.(*cachedStmt)
		delete(c.byText, cs.text)
		drop = append(drop, cs.st)
	}
	return st, false, nil
}

// evict drops text's statement if it is still st, and closes it.
func (c *stmtCache) evict(text string, st *sql.Stmt) {
	c.mu.Lock()
	e, ok := c.byText[text]
	mine := ok && e.Value.(*cachedStmt).st == st
	if mine {
		c.lru.Remove(e)
		delete(c.byText, text)
	}
	c.mu.Unlock()
	if mine {
		st.Close() // outside the lock, as in get
	}
}

// len is the number of statements kept.
func (c *stmtCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// close closes every kept statement; get hands out uncached ones after it.
func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for e := c.lru.Front(); e != nil; e = e.Next() {
		e.Value.(*cachedStmt).st.Close()
	}
	c.lru.Init()
	c.byText = nil
}
