// This file implements PostgreSQL databases with pgx's pool. Read-only
// queries go to a pool whose sessions start with
// default_transaction_read_only = on, so each query is its own read-only
// transaction in one round trip (an explicit BEGIN READ ONLY … COMMIT
// would cost three, which a render's budget feels against a remote
// server). Writes get a pool of their own, opened only when first used.
// statement_timeout is set on the server, which cancels the statement
// itself; a cancelled context sends the server a cancel request, so a
// query the caller gave up on stops running there too, and the connection
// stays in the pool.
package sqldb

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pgConnectTimeout bounds a connection attempt when the URL sets none
// (connect_timeout); the caller's context can end it sooner.
const pgConnectTimeout = 10 * time.Second

type pgDB struct {
	d   Database
	url string

	mu     sync.Mutex
	ro, rw *pgxpool.Pool // opened on first use of each access mode
}

func checkPostgresURL(u string) error {
	_, err := pgxpool.ParseConfig(u) // pgx keeps the password out of its errors
	return err
}

func openPostgres(d Database, url string) (backend, error) {
	return &pgDB{d: d, url: url}, nil
}

func (p *pgDB) pool(access Access) (*pgxpool.Pool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pp := &p.ro
	if access == ReadWrite {
		pp = &p.rw
	}
	if *pp != nil {
		return *pp, nil
	}
	cfg, err := pgxpool.ParseConfig(p.url)
	if err != nil {
		return nil, err
	}
	n := p.d.Pool
	if n <= 0 {
		n = 4
	}
	cfg.MaxConns = int32(n)
	cc := cfg.ConnConfig
	if cc.ConnectTimeout == 0 {
		cc.ConnectTimeout = pgConnectTimeout
	}
	if _, ok := cc.RuntimeParams["application_name"]; !ok {
		cc.RuntimeParams["application_name"] = "jawas"
	}
	if p.d.StatementTimeout > 0 {
		cc.RuntimeParams["statement_timeout"] = strconv.FormatInt(max(1, p.d.StatementTimeout.Milliseconds()), 10)
	}
	if access == ReadOnly {
		cc.RuntimeParams["default_transaction_read_only"] = "on"
	}
	// When ctx ends, ask the server to cancel the statement and keep the
	// connection; pgx's default breaks the connection first (cancelling
	// afterwards), so every render cut at its budget would cost a
	// reconnect.
	cc.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: 2 * time.Second}
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg) // connects on first Acquire
	if err != nil {
		return nil, err
	}
	*pp = pool
	return pool, nil
}

func (p *pgDB) query(ctx context.Context, text string, params []any, access Access) (*Result, error) {
	pool, err := p.pool(access)
	if err != nil {
		return nil, err
	}
	res, err := p.run(ctx, pool, text, params)
	if err != nil && pgconn.SafeToRetry(err) && ctx.Err() == nil {
		// Nothing reached the server (a pooled connection found dead
		// before sending): once more on a fresh connection.
		res, err = p.run(ctx, pool, text, params)
	}
	return res, err
}

func (p *pgDB) run(ctx context.Context, pool *pgxpool.Pool, text string, params []any) (*Result, error) {
	rows, err := pool.Query(ctx, text, params...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	fds := rows.FieldDescriptions()
	res := &Result{Columns: make([]string, len(fds)), Rows: [][]any{}}
	for i, fd := range fds {
		res.Columns[i] = fd.Name
	}
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return nil, err
		}
		raw := rows.RawValues()
		for i, v := range vals {
			if oid := fds[i].DataTypeOID; (oid == pgtype.JSONOID || oid == pgtype.JSONBOID) && v != nil && i < len(raw) {
				// The text, not pgx's map: keys keep their order.
				vals[i] = jsonValue(jsonText(raw[i], oid, fds[i].Format))
				continue
			}
			vals[i] = pgValue(fds[i].DataTypeOID, v)
		}
		res.Rows = append(res.Rows, vals)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return res, nil
}

func (p *pgDB) classify(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		where := ""
		if pe.Position > 0 {
			where = fmt.Sprintf(" (at character %d of the query)", pe.Position)
		}
		switch pe.Code {
		case "25006": // read_only_sql_transaction
			return fmt.Errorf("%w (queries in a render run in a read-only transaction): %v", ErrReadOnly, err)
		case "57014": // query_canceled
			if strings.Contains(pe.Message, "statement timeout") {
				return ErrStatementTimeout
			}
		case "57P01", "57P02", "57P03": // admin_shutdown, crash_shutdown, cannot_connect_now
			return fmt.Errorf("%w: the server is shutting down or restarting: %v", ErrUnreachable, err)
		}
		return fmt.Errorf("%v%s", err, where)
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return fmt.Errorf("%w: cannot connect: %v", ErrUnreachable, err)
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, pgconn.ErrConnClosed) {
		return fmt.Errorf("%w: connection lost: %v", ErrUnreachable, err)
	}
	return err
}

func (p *pgDB) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pool := range []*pgxpool.Pool{p.ro, p.rw} {
		if pool != nil {
			pool.Close()
		}
	}
	p.ro, p.rw = nil, nil
}

// jsonText is a json or jsonb column's text from its wire bytes: binary
// jsonb is a version byte (1) and the text.
func jsonText(b []byte, oid uint32, format int16) []byte {
	if oid == pgtype.JSONBOID && format == pgtype.BinaryFormatCode && len(b) > 0 && b[0] == 1 {
		return b[1:]
	}
	return b
}

// pgValue maps one value as pgx decoded it (rows.Values) by the column's
// type; see convert.go for the table.
func pgValue(oid uint32, v any) any {
	if v == nil {
		return nil
	}
	if oid == pgtype.JSONOID || oid == pgtype.JSONBOID {
		if b, ok := v.([]byte); ok {
			return jsonValue(b)
		}
		return v // pgx parsed it already
	}
	switch x := v.(type) {
	case bool, string:
		return x
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case int64:
		return intValue(x)
	case uint32: // oid, xid
		return int64(x)
	case float32:
		// Widening 0.1f to float64 prints 0.10000000149011612; the
		// shortest float32 decimal is what the database shows.
		f, _ := strconv.ParseFloat(strconv.FormatFloat(float64(x), 'g', -1, 32), 64)
		return floatValue(f)
	case float64:
		return floatValue(x)
	case []byte:
		return bytesValue(x)
	case time.Time:
		if oid == pgtype.DateOID {
			return dateValue(x)
		}
		return timestampValue(x)
	case pgtype.InfinityModifier:
		return x.String() // "infinity", "-infinity"
	case [16]byte: // uuid
		return fmt.Sprintf("%x-%x-%x-%x-%x", x[0:4], x[4:6], x[6:8], x[8:10], x[10:16])
	case []any:
		elem := uint32(0)
		switch oid {
		case pgtype.DateArrayOID:
			elem = pgtype.DateOID
		case pgtype.JSONArrayOID, pgtype.JSONBArrayOID:
			elem = pgtype.JSONOID
		}
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = pgValue(elem, e)
		}
		return out
	case map[string]any:
		return x
	case netip.Prefix:
		if x.IsSingleIP() {
			return x.Addr().String()
		}
		return x.String()
	case netip.Addr:
		return x.String()
	case driver.Valuer: // numeric, interval, time, …: their text form
		dv, err := x.Value()
		if err != nil {
			return fmt.Sprint(v)
		}
		if dv == nil {
			return nil
		}
		return pgValue(0, dv)
	case fmt.Stringer:
		return x.String()
	}
	return fmt.Sprint(v)
}
