// Package config owns jawas.toml: its keys, their defaults, and validation
// that names the offending key and file. It must never reach into other
// jawas packages; callers translate Config into their own options.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/jawas/jawas/engine/internal/journal"
)

// FileName is the config file at the root of a jawas project.
const FileName = "jawas.toml"

// Duration is a time.Duration written in TOML as a string ("200ms", "1s").
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("expected a duration such as \"200ms\" or \"2s\", got %q", b)
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration back as a string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.Duration.String()), nil }

// Config is a whole jawas.toml. Zero values are filled by Default.
type Config struct {
	Period      Duration `toml:"period"`       // default period of every source
	Timeout     Duration `toml:"timeout"`      // default evaluation budget of a source
	MaxSnapshot int      `toml:"max_snapshot"` // largest snapshot in bytes
	Sources     string   `toml:"sources"`      // directories, relative to the project
	Site        string   `toml:"site"`
	Templates   string   `toml:"templates"`
	Output      string   `toml:"output"`
	WriteToken  string   `toml:"write_token"` // Bearer token every write must carry; "" = none

	Serve Serve `toml:"serve"`
	Fetch Fetch `toml:"fetch"`
	Env   Env   `toml:"env"`

	// Cluster is [cluster]: off unless cluster.enabled.
	Cluster Cluster `toml:"cluster"`

	// Source holds per-source overrides keyed by source name ("game/arena").
	Source map[string]SourceConfig `toml:"source"`

	// DB holds the SQL databases sources may query, keyed by the name a
	// source passes to db("NAME").
	DB map[string]DBConfig `toml:"db"`

	// Dir is the project directory (where jawas.toml is or would be); File
	// is the config file's path, empty when the defaults are used.
	Dir  string `toml:"-"`
	File string `toml:"-"`

	lines map[string]int // key (toml.Key.String()) → its line in File
}

// Line returns the 1-based line of key (its parts: "source", "game/arena")
// in the config file, 0 when the file does not define it.
func (c *Config) Line(key ...string) int { return c.lines[keyString(key)] }

// SourceConfig overrides settings for one source.
type SourceConfig struct {
	Period     Duration `toml:"period"`
	Timeout    Duration `toml:"timeout"`
	WriteToken string   `toml:"write_token"` // replaces the project's write_token for this source
	MaxMemory  int64    `toml:"max_memory"`  // bytes one render or reducer call may allocate; 0 = DefaultSourceMaxMemory
}

// Fetch holds the keys of a source's fetch().
type Fetch struct {
	// Allow lists the hosts sources may fetch from ("api.example.com",
	// "*.internal:8443"); empty: any host.
	Allow         []string `toml:"allow"`
	MaxBody       int64    `toml:"max_body"`       // largest response body, decoded, in bytes
	MaxConcurrent int      `toml:"max_concurrent"` // requests in flight at once, per source
}

// Env holds the keys of the "jawas" module's env().
type Env struct {
	Allow []string `toml:"allow"` // variables env(NAME) may return; the others are refused
}

// DefaultSourceMaxMemory is [source."NAME"] max_memory when unset: 256 MiB.
const DefaultSourceMaxMemory = 256 << 20

// DBConfig declares one database ([db.NAME]).
type DBConfig struct {
	// URL is "sqlite:PATH" (PATH relative to the project unless absolute)
	// or "postgres://…" / "postgresql://…" (libpq URL syntax).
	URL              string   `toml:"url"`
	Pool             int      `toml:"pool"`              // most connections at once; 0 = DefaultDBPool
	StatementTimeout Duration `toml:"statement_timeout"` // longest query; 0 = only the caller's deadline
}

// DefaultDBPool is the connection pool size of a database without `pool`.
const DefaultDBPool = 4

// DBPool is [db.NAME] pool, or DefaultDBPool when unset.
func (d DBConfig) DBPool() int {
	if d.Pool > 0 {
		return d.Pool
	}
	return DefaultDBPool
}

// Serve holds the keys of `jawas serve`.
type Serve struct {
	Listen          string             `toml:"listen"`
	Workers         int                `toml:"workers"` // 0 = number of cores
	DataDir         string             `toml:"data_dir"`
	MaxRequests     int                `toml:"max_requests"` // per worker before recycling; 0 = off
	ShutdownTimeout Duration           `toml:"shutdown_timeout"`
	HeaderTimeout   Duration           `toml:"header_timeout"`
	IdleTimeout     Duration           `toml:"idle_timeout"`
	WriteTimeout    Duration           `toml:"write_timeout"`
	MaxConns        int                `toml:"max_conns"` // per worker
	MaxRequestLine  int                `toml:"max_request_line"`
	MaxHeaderBytes  int                `toml:"max_header_bytes"`
	MaxBody         int                `toml:"max_body"`
	CORSOrigins     []string           `toml:"cors_origins"`
	Durability      journal.Durability `toml:"durability"`    // "sync" (journal.Sync) or "none" (journal.None)
	CommitWindow    Duration           `toml:"commit_window"` // with "sync": how long a write may wait to share an fdatasync
	PidFile         string             `toml:"pid_file"`

	WriteRate         float64 `toml:"write_rate"`          // writes/s per client address and worker; 0 = no limit
	WriteBurst        int     `toml:"write_burst"`         // writes a client may make at once; 0 = max(1, write_rate)
	MaxPendingJournal int64   `toml:"max_pending_journal"` // journal bytes not applied yet before writes get 503

	AdminNetworks   []string `toml:"admin_networks"`    // CIDRs or addresses that may use /_jawas/* admin endpoints; empty = loopback
	AdminToken      string   `toml:"admin_token"`       // "Authorization: Bearer TOKEN" also admits a client; "" = none
	AccessLog       string   `toml:"access_log"`        // combined-format access log file; "" = off
	HealthMaxMissed int      `toml:"health_max_missed"` // /_jawas/health is 503 after this many periods without a publish

	TrustedProxies  []string `toml:"trusted_proxies"`  // CIDRs or addresses of proxies whose word about the client is believed
	ProxyProtocol   bool     `toml:"proxy_protocol"`   // connections from trusted_proxies start with a PROXY protocol header (v1 or v2)
	ForwardedHeader string   `toml:"forwarded_header"` // "x-forwarded-for" (default), "forwarded" or "none"

	MaxMemory int64 `toml:"max_memory"` // the engine process's memory limit in bytes (GOMEMLIMIT); 0 = none

	// Deltas: each new version of a JSON snapshot of at least 4 KB gets a
	// patch from each of its previous Deltas versions (226 IM Used to
	// clients that ask with A-IM); 0 = none.
	Deltas int `toml:"deltas"`

	CacheControl CacheControl `toml:"cache_control"`
}

// CacheControl is [serve.cache_control]: what shared caches (CDNs, nginx,
// Varnish) may do with snapshots and pages beyond the default contract
// (never past the next boundary). Each span is a number of the URL's
// periods (an integer) or a duration ("30s"); caches count whole seconds.
type CacheControl struct {
	// SMaxage lets shared caches reuse a version of a sub-second source
	// this long (s-maxage, whole seconds) instead of revalidating every
	// use: a chosen staleness bound. 0 (default): no-cache. Periods of 1 s
	// and more always get s-maxage = the seconds to the next boundary.
	SMaxage Span `toml:"s_maxage"`
	// StaleWhileRevalidate: a shared cache may answer with the previous
	// version this long after it expired while it fetches the new one.
	StaleWhileRevalidate Span `toml:"stale_while_revalidate"`
	// StaleIfError: a shared cache may answer with the last version this
	// long after it expired while jawas cannot be reached or fails.
	StaleIfError Span `toml:"stale_if_error"`
}

// Enabled reports whether any key of [serve.cache_control] is set.
func (c CacheControl) Enabled() bool {
	return c.SMaxage != (Span{}) || c.StaleWhileRevalidate != (Span{}) || c.StaleIfError != (Span{})
}

// Span is a length of time written as a number of periods (an integer:
// derived from each URL's own period) or as a duration string.
type Span struct {
	Periods  int64
	Duration time.Duration
}

// UnmarshalTOML reads an integer (periods) or a duration string.
func (s *Span) UnmarshalTOML(v any) error {
	switch x := v.(type) {
	case int64:
		if x < 0 {
			return fmt.Errorf("expected 0 or a positive number of periods, got %d", x)
		}
		*s = Span{Periods: x}
	case string:
		d, err := time.ParseDuration(x)
		if err != nil || d < 0 {
			return fmt.Errorf("expected a number of periods such as 2, or a duration such as \"30s\", got %q", x)
		}
		*s = Span{Duration: d}
	default:
		return fmt.Errorf("expected a number of periods such as 2, or a duration such as \"30s\", got %v", v)
	}
	return nil
}

// String writes the span as it is written in the config.
func (s Span) String() string {
	if s.Periods > 0 {
		return fmt.Sprintf("%d periods", s.Periods)
	}
	return fmt.Sprintf("%q", s.Duration.String())
}

// Of returns the span for a URL whose period is period.
func (s Span) Of(period time.Duration) time.Duration {
	if s.Periods > 0 {
		return time.Duration(s.Periods) * period
	}
	return s.Duration
}

// Default returns the configuration used when jawas.toml is absent.
func Default() Config {
	return Config{
		Period:      Duration{200 * time.Millisecond},
		Timeout:     Duration{50 * time.Millisecond},
		MaxSnapshot: 8 << 20,
		Sources:     "sources",
		Site:        "site",
		Templates:   "templates",
		Output:      "dist",
		Fetch:       Fetch{MaxBody: 8 << 20, MaxConcurrent: 8},
		Serve: Serve{
			Listen:          "127.0.0.1:8080",
			Workers:         0,
			DataDir:         ".jawas",
			ShutdownTimeout: Duration{10 * time.Second},
			HeaderTimeout:   Duration{10 * time.Second},
			IdleTimeout:     Duration{60 * time.Second},
			WriteTimeout:    Duration{30 * time.Second},
			MaxConns:        10000,
			MaxRequestLine:  8 << 10,
			MaxHeaderBytes:  16 << 10,
			MaxBody:         1 << 20,
			Durability:      journal.Sync,
			CommitWindow:    Duration{10 * time.Millisecond},

			MaxPendingJournal: 256 << 20,
			HealthMaxMissed:   10,
			MaxMemory:         1 << 30,
			Deltas:            4,
		},
		Cluster: DefaultCluster(),
	}
}

// Load reads dir/jawas.toml over the defaults. A missing file means the
// defaults; unknown keys and invalid values are errors naming the key.
func Load(dir string) (*Config, error) {
	c := Default()
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c.Dir = abs
	file := filepath.Join(abs, FileName)
	data, err := os.ReadFile(file)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &c, c.Validate()
	case err != nil:
		return nil, fmt.Errorf("config: %w", err)
	}
	c.File = file
	if err := Parse(&c, file, data); err != nil {
		return nil, err
	}
	return &c, nil
}

// Parse decodes TOML data (read from file, used in messages) over c and
// validates the result.
func Parse(c *Config, file string, data []byte) error {
	name := displayName(file)
	md, err := toml.Decode(string(data), c)
	if err != nil {
		var perr toml.ParseError
		if errors.As(err, &perr) {
			msg := perr.Message
			if perr.LastKey != "" {
				return fmt.Errorf("%s:%d: key %q: %s", name, perr.Position.Line, perr.LastKey, msg)
			}
			return fmt.Errorf("%s:%d: %s", name, perr.Position.Line, msg)
		}
		if m := badType.FindStringSubmatch(err.Error()); m != nil {
			return fmt.Errorf("%s:%s: key %q: expected %s, got %s", name, m[1], m[2], typeWord(m[4]), typeWord(m[3]))
		}
		return fmt.Errorf("%s: %w", name, err)
	}
	c.lines = keyLines(data)
	if und := md.Undecoded(); len(und) > 0 {
		// One line per unknown key, in file order: where it is and what
		// it was probably meant to be.
		sort.SliceStable(und, func(i, j int) bool { return c.lines[und[i].String()] < c.lines[und[j].String()] })
		var msgs []string
		seen := map[string]bool{}
		for _, k := range und {
			if seen[k.String()] {
				continue
			}
			seen[k.String()] = true
			at := name
			if n := c.lines[k.String()]; n > 0 {
				at = fmt.Sprintf("%s:%d", name, n)
			}
			msg := fmt.Sprintf("%s: unknown key %q", at, k.String())
			if hint := unknownKeyHint(k); hint != "" {
				msg += "; " + hint
			} else {
				msg += " (known keys are listed in the README's config reference)"
			}
			msgs = append(msgs, msg)
		}
		return errors.New(strings.Join(msgs, "\n"))
	}
	if err := c.Validate(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// badType matches the TOML decoder's type mismatch, which it reports as a
// plain error: line, key, the TOML value's Go type, the destination's.
var badType = regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]+)"\): incompatible types: TOML value has type (\S+); destination has type (.+)$`)

// typeWord names a TOML decoder type (Go's for TOML values, reflect kinds
// for destinations) as an author would.
func typeWord(t string) string {
	switch t {
	case "string":
		return "a string"
	case "int64", "integer", "int", "int32", "uint", "uint64":
		return "an integer"
	case "float64", "float", "float32":
		return "a decimal number"
	case "bool":
		return "a boolean"
	case "[]any", "[]map[string]any", "slice", "array":
		return "an array"
	case "map[string]any", "map", "struct":
		return "a table"
	case "time.Time", "toml.LocalDate", "toml.LocalDateTime", "toml.LocalTime":
		return "a date or time"
	}
	return t
}

// Validate checks values that TOML types cannot express.
func (c *Config) Validate() error {
	var errs []string
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Sprintf("key %q: %s", key, fmt.Sprintf(format, args...)))
	}
	if c.Period.Duration < time.Millisecond {
		bad("period", "must be at least 1ms, got %s", c.Period.Duration)
	}
	if c.Timeout.Duration <= 0 {
		bad("timeout", "must be positive, got %s", c.Timeout.Duration)
	}
	if c.MaxSnapshot <= 0 {
		bad("max_snapshot", "must be a positive number of bytes, got %d", c.MaxSnapshot)
	}
	for _, kv := range []struct{ key, val string }{{"sources", c.Sources}, {"site", c.Site}, {"templates", c.Templates}, {"output", c.Output}, {"serve.data_dir", c.Serve.DataDir}} {
		if strings.TrimSpace(kv.val) == "" {
			bad(kv.key, "must name a directory")
		}
	}
	s := &c.Serve
	if s.Listen == "" || !strings.Contains(s.Listen, ":") {
		bad("serve.listen", "expected host:port such as \"127.0.0.1:8080\", got %q", s.Listen)
	}
	if s.Workers < 0 || s.Workers > 256 {
		bad("serve.workers", "expected 0 (one per core) to 256, got %d", s.Workers)
	}
	if s.MaxRequests < 0 {
		bad("serve.max_requests", "expected 0 (off) or a positive count, got %d", s.MaxRequests)
	}
	for _, d := range []struct {
		key string
		v   Duration
	}{{"serve.shutdown_timeout", s.ShutdownTimeout}, {"serve.header_timeout", s.HeaderTimeout}, {"serve.idle_timeout", s.IdleTimeout}, {"serve.write_timeout", s.WriteTimeout}} {
		if d.v.Duration <= 0 {
			bad(d.key, "must be positive, got %s", d.v.Duration)
		}
	}
	for _, n := range []struct {
		key string
		v   int
	}{{"serve.max_conns", s.MaxConns}, {"serve.max_request_line", s.MaxRequestLine}, {"serve.max_header_bytes", s.MaxHeaderBytes}, {"serve.max_body", s.MaxBody}} {
		if n.v <= 0 {
			bad(n.key, "must be positive, got %d", n.v)
		}
	}
	if s.MaxRequestLine < 64 {
		bad("serve.max_request_line", "must be at least 64 bytes, got %d", s.MaxRequestLine)
	}
	if s.Durability != journal.Sync && s.Durability != journal.None { // set by a program, not parsed
		bad("serve.durability", "expected \"sync\" or \"none\", got %s", s.Durability)
	}
	if w := s.CommitWindow.Duration; w < 0 || w > time.Second {
		bad("serve.commit_window", "expected 0 (commit at once) to 1s, got %s", w)
	}
	if s.WriteRate < 0 {
		bad("serve.write_rate", "expected 0 (no limit) or writes per second, got %g", s.WriteRate)
	}
	if s.WriteBurst < 0 {
		bad("serve.write_burst", "expected 0 (the rate) or a positive count, got %d", s.WriteBurst)
	} else if s.WriteRate > 0 {
		// The shared rate table keeps a client's standing in 40 bits of
		// microseconds (engine/writes/ratelimit.go): a day at most.
		if span := float64(c.WriteBurstOrDefault()) / s.WriteRate; span > 86400 {
			bad("serve.write_burst", "a burst of %d at %g writes/s takes %.0f s to refill; at most 86400 (a day): raise serve.write_rate or lower serve.write_burst", c.WriteBurstOrDefault(), s.WriteRate, span)
		}
	}
	if s.MaxMemory != 0 && s.MaxMemory < 64<<20 {
		bad("serve.max_memory", "expected 0 (no limit) or at least 67108864 bytes (64 MiB), got %d", s.MaxMemory)
	}
	if s.Deltas < 0 || s.Deltas > 32 {
		bad("serve.deltas", "expected 0 (no patches) to 32 versions back, got %d", s.Deltas)
	}
	if s.MaxPendingJournal <= 0 {
		bad("serve.max_pending_journal", "must be a positive number of bytes, got %d", s.MaxPendingJournal)
	}
	c.validateAdmin(bad)
	if c.Fetch.MaxBody <= 0 {
		bad("fetch.max_body", "must be a positive number of bytes, got %d", c.Fetch.MaxBody)
	}
	if c.Fetch.MaxConcurrent <= 0 {
		bad("fetch.max_concurrent", "must be a positive count, got %d", c.Fetch.MaxConcurrent)
	}
	for i, a := range c.Fetch.Allow {
		if h := strings.TrimSpace(a); h == "" || strings.Contains(h, "/") {
			bad(fmt.Sprintf("fetch.allow[%d]", i), "expected a host such as \"api.example.com\", \"*.example.com\" or \"10.0.0.7:8443\" (no scheme, no path), got %q", a)
		}
	}
	for i, n := range c.Env.Allow {
		if n == "" || strings.ContainsAny(n, "= \t") {
			bad(fmt.Sprintf("env.allow[%d]", i), "expected an environment variable name such as \"API_TOKEN\", got %q", n)
		}
	}
	c.validateCluster(bad)
	if msg := checkToken(c.WriteToken); msg != "" {
		bad("write_token", "%s", msg)
	}
	for i, o := range s.CORSOrigins {
		if o != "*" && !strings.HasPrefix(o, "http://") && !strings.HasPrefix(o, "https://") {
			bad(fmt.Sprintf("serve.cors_origins[%d]", i), "expected \"*\" or an origin such as \"https://example.com\", got %q", o)
		}
	}
	names := make([]string, 0, len(c.Source))
	for n := range c.Source {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		sc := c.Source[n]
		if sc.Period.Duration != 0 && sc.Period.Duration < time.Millisecond {
			bad("source."+n+".period", "must be at least 1ms, got %s", sc.Period.Duration)
		}
		if sc.Timeout.Duration < 0 {
			bad("source."+n+".timeout", "must be positive, got %s", sc.Timeout.Duration)
		}
		if msg := checkToken(sc.WriteToken); msg != "" {
			bad("source."+n+".write_token", "%s", msg)
		}
		if sc.MaxMemory != 0 && sc.MaxMemory < 1<<20 {
			bad("source."+n+".max_memory", "expected at least 1048576 bytes (1 MiB), got %d", sc.MaxMemory)
		}
	}
	c.validateDB(bad)
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// Path resolves a project-relative directory setting.
func (c *Config) Path(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.Dir, p)
}

// Workers is the number of worker processes: serve.workers, or the cores.
func (c *Config) Workers() int {
	if c.Serve.Workers > 0 {
		return c.Serve.Workers
	}
	return runtime.NumCPU()
}

// SourcePeriod is the period of a source: its [source."name"] override,
// then exported (the source's own `export const period`), then the default.
func (c *Config) SourcePeriod(name string, exported time.Duration) time.Duration {
	if sc, ok := c.Source[name]; ok && sc.Period.Duration > 0 {
		return sc.Period.Duration
	}
	if exported > 0 {
		return exported
	}
	return c.Period.Duration
}

// SourceTimeout is the evaluation budget of a source.
func (c *Config) SourceTimeout(name string) time.Duration {
	if sc, ok := c.Source[name]; ok && sc.Timeout.Duration > 0 {
		return sc.Timeout.Duration
	}
	return c.Timeout.Duration
}

// SourceMaxMemory is the bytes one render or reducer call of a source may
// allocate: its [source."name"] max_memory, else DefaultSourceMaxMemory.
func (c *Config) SourceMaxMemory(name string) int64 {
	if sc, ok := c.Source[name]; ok && sc.MaxMemory > 0 {
		return sc.MaxMemory
	}
	return DefaultSourceMaxMemory
}

// SourceWriteToken is the Bearer token writes to a source must carry: its
// [source."name"] write_token, else the project's; "" means none.
func (c *Config) SourceWriteToken(name string) string {
	if sc, ok := c.Source[name]; ok && sc.WriteToken != "" {
		return sc.WriteToken
	}
	return c.WriteToken
}

// WriteBurstOrDefault is serve.write_burst, or max(1, write_rate) when 0.
func (c *Config) WriteBurstOrDefault() int {
	if c.Serve.WriteBurst > 0 {
		return c.Serve.WriteBurst
	}
	return max(1, int(c.Serve.WriteRate+0.999))
}

// checkToken says what is wrong with a write token ("" when nothing): it
// must fit in an Authorization header and be long enough to guess badly.
func checkToken(tok string) string {
	if tok == "" {
		return ""
	}
	if len(tok) < 16 {
		return fmt.Sprintf("must be at least 16 characters, got %d", len(tok))
	}
	for i := 0; i < len(tok); i++ {
		if tok[i] <= ' ' || tok[i] >= 0x7f {
			return "must be printable ASCII without spaces (it is sent as \"Authorization: Bearer TOKEN\")"
		}
	}
	return ""
}

func displayName(file string) string {
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, file); err == nil && !strings.HasPrefix(rel, "..") {
			return rel
		}
	}
	return file
}

// validateAdmin checks the operability keys (admin access, access log,
// health).
func (c *Config) validateAdmin(bad func(key, format string, args ...any)) {
	s := &c.Serve
	for i, n := range s.AdminNetworks {
		if _, err := parseNetwork(n); err != nil {
			bad(fmt.Sprintf("serve.admin_networks[%d]", i), "expected a network such as \"10.0.0.0/8\" or an address such as \"192.0.2.7\", got %q", n)
		}
	}
	if msg := checkToken(s.AdminToken); msg != "" {
		bad("serve.admin_token", "%s", msg)
	}
	if s.AccessLog != "" && strings.TrimSpace(s.AccessLog) == "" {
		bad("serve.access_log", "expected a file path or \"\" (off), got %q", s.AccessLog)
	}
	if s.HealthMaxMissed < 1 {
		bad("serve.health_max_missed", "expected a number of periods of at least 1, got %d", s.HealthMaxMissed)
	}
	for i, n := range s.TrustedProxies {
		if _, err := parseNetwork(n); err != nil {
			bad(fmt.Sprintf("serve.trusted_proxies[%d]", i), "expected a network such as \"10.0.0.0/8\" or an address such as \"192.0.2.7\", got %q", n)
		}
	}
	if s.ProxyProtocol && len(s.TrustedProxies) == 0 {
		bad("serve.proxy_protocol", "needs serve.trusted_proxies: the PROXY protocol header is read only from the proxies listed there")
	}
	if cc := s.CacheControl.SMaxage; cc.Periods > 0 || (cc.Duration > 0 && cc.Duration < time.Second) {
		bad("serve.cache_control.s_maxage", "expected a duration of whole seconds such as \"1s\" (it applies to sub-second periods, and caches count seconds), got %s", cc)
	}
	switch strings.ToLower(s.ForwardedHeader) {
	case "", "x-forwarded-for", "forwarded", "none":
	default:
		bad("serve.forwarded_header", "expected \"x-forwarded-for\", \"forwarded\" or \"none\", got %q", s.ForwardedHeader)
	}
}

// TrustedProxies returns serve.trusted_proxies as prefixes (a bare address
// is a single-host network).
func (c *Config) TrustedProxies() []netip.Prefix {
	var out []netip.Prefix
	for _, n := range c.Serve.TrustedProxies {
		if p, err := parseNetwork(n); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// AdminNetworks returns serve.admin_networks as prefixes; nil (loopback
// only) when the key is empty. A bare address is a single-host network.
func (c *Config) AdminNetworks() []netip.Prefix {
	var out []netip.Prefix
	for _, n := range c.Serve.AdminNetworks {
		if p, err := parseNetwork(n); err == nil {
			out = append(out, p)
		}
	}
	return out
}

func parseNetwork(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// dbName is what a [db.NAME] table may be called: a name a source can write
// in db("NAME") without quoting surprises.
var dbName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

// validateDB checks the [db.NAME] tables: a known URL scheme, a sane pool
// and a non-negative statement timeout. It does not connect.
func (c *Config) validateDB(bad func(key, format string, args ...any)) {
	names := make([]string, 0, len(c.DB))
	for n := range c.DB {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		d := c.DB[n]
		key := "db." + n
		if !dbName.MatchString(n) {
			bad(key, "a database name must be letters, digits, '_' or '-' and start with a letter or '_', got %q", n)
		}
		switch u := d.URL; {
		case u == "":
			bad(key+".url", "missing: expected \"sqlite:data/app.db\" or \"postgres://user@host:5432/dbname\"")
		case strings.HasPrefix(u, "sqlite:"):
			if p := strings.TrimPrefix(u, "sqlite:"); strings.TrimSpace(p) == "" || strings.HasPrefix(p, "//") || p == ":memory:" {
				bad(key+".url", "expected a file path after \"sqlite:\" (relative to the project, or absolute), such as \"sqlite:data/app.db\", got %q", u)
			}
		case strings.HasPrefix(u, "postgres://"), strings.HasPrefix(u, "postgresql://"):
			if _, err := url.Parse(u); err != nil {
				bad(key+".url", "not a valid postgres:// URL: %v", redactURLError(err))
			}
		case !strings.Contains(u, ":"):
			bad(key+".url", "no scheme in %q (expected sqlite: or postgres://, such as \"sqlite:%s\")", u, u)
		default:
			bad(key+".url", "unknown scheme %q (expected sqlite: or postgres://)", u[:strings.Index(u, ":")])
		}
		if d.Pool < 0 || d.Pool > 1000 {
			bad(key+".pool", "expected 0 (the default, %d) to 1000 connections, got %d", DefaultDBPool, d.Pool)
		}
		if d.StatementTimeout.Duration < 0 {
			bad(key+".statement_timeout", "expected 0 (none) or a positive duration, got %s", d.StatementTimeout.Duration)
		}
	}
}

// redactURLError keeps a password out of a URL parse error: url.Error
// quotes the whole URL.
func redactURLError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}
