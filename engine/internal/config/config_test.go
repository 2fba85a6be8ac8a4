package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jawas/jawas/engine/internal/journal"
)

func write(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestMissingFileMeansDefaults(t *testing.T) {
	c, err := Load(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if c.Period.Duration != 200*time.Millisecond || c.Serve.Listen != "127.0.0.1:8080" || c.File != "" {
		t.Fatalf("defaults not applied: %+v", c)
	}
}

func TestValidFile(t *testing.T) {
	dir := write(t, `
period = "1s"
sources = "src"
[serve]
listen = "127.0.0.1:9000"
workers = 3
cors_origins = ["*"]
[source."game/arena"]
period = "100ms"
timeout = "20ms"
`)
	c, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if c.Period.Duration != time.Second || c.Sources != "src" || c.Workers() != 3 || c.Serve.Listen != "127.0.0.1:9000" {
		t.Fatalf("values not read: %+v", c)
	}
	if got := c.SourcePeriod("game/arena", 5*time.Second); got != 100*time.Millisecond {
		t.Fatalf("override period = %v", got)
	}
	if got := c.SourcePeriod("clock", 5*time.Second); got != 5*time.Second {
		t.Fatalf("exported period = %v", got)
	}
	if got := c.SourcePeriod("clock", 0); got != time.Second {
		t.Fatalf("default period = %v", got)
	}
	if got := c.SourceTimeout("game/arena"); got != 20*time.Millisecond {
		t.Fatalf("timeout = %v", got)
	}
	if c.Path("src") != filepath.Join(dir, "src") {
		t.Fatalf("path = %s", c.Path("src"))
	}
}

func TestWriteKeys(t *testing.T) {
	c, err := Load(write(t, "write_token = \"project-token-0123456789\"\n[serve]\nwrite_rate = 2.5\nmax_pending_journal = 1024\n[source.chat]\nwrite_token = \"chat-token-0123456789\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.SourceWriteToken("chat"); got != "chat-token-0123456789" {
		t.Errorf("chat token = %q", got)
	}
	if got := c.SourceWriteToken("clock"); got != "project-token-0123456789" {
		t.Errorf("clock token = %q", got)
	}
	if c.Serve.WriteRate != 2.5 || c.WriteBurstOrDefault() != 3 || c.Serve.MaxPendingJournal != 1024 {
		t.Errorf("serve = %+v, burst %d", c.Serve, c.WriteBurstOrDefault())
	}
	if d := Default(); d.Serve.CommitWindow.Duration != 10*time.Millisecond {
		t.Errorf("default serve.commit_window = %s, want 10ms", d.Serve.CommitWindow.Duration)
	}
	if d := Default(); d.Serve.MaxPendingJournal <= 0 || d.WriteToken != "" {
		t.Errorf("defaults: %+v", d.Serve)
	}
}

func TestBadInput(t *testing.T) {
	cases := []struct {
		name, body string
		want       []string // substrings of the error
	}{
		{"unknown top key", "perod = \"1s\"\n", []string{`jawas.toml:1: unknown key "perod"; did you mean "period"?`}},
		{"unknown nested key", "[serve]\nlisten = \"127.0.0.1:1\"\nworkerz = 2\n", []string{`jawas.toml:3: unknown key "serve.workerz"; did you mean "serve.workers"?`}},
		{"top-level key under [serve]", "# comment\n[serve]\nworkers = 2\nperod = \"1s\"\n", []string{`jawas.toml:4: unknown key "serve.perod"; did you mean "period"? It is a top-level key: put it above [serve]`}},
		{"top-level key under [serve], spelled right", "[serve]\nperiod = \"1s\"\n", []string{`jawas.toml:2: unknown key "serve.period"; did you mean "period"? It is a top-level key: put it above [serve]`}},
		{"serve key at the top", "workers = 2\n", []string{`jawas.toml:1: unknown key "workers"; did you mean "serve.workers"? It belongs under [serve]`}},
		{"dotted and quoted", "serve.max_bdy = 1\n[source.\"game/arena\"]\ntimout = \"1s\"\n", []string{`jawas.toml:1: unknown key "serve.max_bdy"; did you mean "serve.max_body"?`, `jawas.toml:3: unknown key "source.\"game/arena\".timout"; did you mean "source.\"game/arena\".timeout"?`}},
		{"nothing close", "[serve]\nzzzzzzzz = 1\n", []string{`jawas.toml:2: unknown key "serve.zzzzzzzz" (known keys are listed in the README's config reference)`}},
		{"bad duration", "period = \"fast\"\n", []string{"jawas.toml:1", `"period"`, "expected a duration"}},
		{"wrong type", "[serve]\nworkers = \"two\"\n", []string{`jawas.toml:2: key "serve.workers": expected an integer, got a string`}},
		{"number for a string", "[serve]\nlisten = 8080\n", []string{`jawas.toml:2: key "serve.listen": expected a string, got an integer`}},
		{"string for a list", "[serve]\ncors_origins = \"*\"\n", []string{`jawas.toml:2: key "serve.cors_origins": expected an array, got a string`}},
		{"boolean for an integer", "[serve]\nworkers = true\n", []string{`jawas.toml:2: key "serve.workers": expected an integer, got a boolean`}},
		{"decimal for an integer", "\n[serve]\nworkers = 1.5\n", []string{`jawas.toml:3: key "serve.workers": expected an integer, got a decimal number`}},
		{"negative workers", "[serve]\nworkers = -1\n", []string{`"serve.workers"`, "got -1"}},
		{"bad durability", "[serve]\ndurability = \"maybe\"\n", []string{`jawas.toml:2: key "serve.durability": expected "sync" or "none", got "maybe"`}},
		{"commit window too long", "[serve]\ncommit_window = \"2s\"\n", []string{`"serve.commit_window"`, "0 (commit at once) to 1s", "got 2s"}},
		{"negative commit window", "[serve]\ncommit_window = \"-1ms\"\n", []string{`"serve.commit_window"`, "got -1ms"}},
		{"bad listen", "[serve]\nlisten = \"8080\"\n", []string{`"serve.listen"`, "host:port"}},
		{"zero period", "period = \"0s\"\n", []string{`"period"`, "at least 1ms"}},
		{"bad source period", "[source.clock]\nperiod = \"1us\"\n", []string{`"source.clock.period"`}},
		{"bad cors", "[serve]\ncors_origins = [\"example.com\"]\n", []string{`serve.cors_origins[0]`}},
		{"syntax", "period = \n", []string{"jawas.toml:1"}},
		{"short token", "write_token = \"abc\"\n", []string{`"write_token"`, "at least 16"}},
		{"token with space", "[source.chat]\nwrite_token = \"abcdefgh ijklmnopq\"\n", []string{`"source.chat.write_token"`, "without spaces"}},
		{"negative write rate", "[serve]\nwrite_rate = -1.0\n", []string{`"serve.write_rate"`}},
		{"negative burst", "[serve]\nwrite_burst = -1\n", []string{`"serve.write_burst"`}},
		{"burst longer than a day", "[serve]\nwrite_rate = 0.001\nwrite_burst = 100\n", []string{`"serve.write_burst"`, "86400"}},
		{"zero pending cap", "[serve]\nmax_pending_journal = 0\n", []string{`"serve.max_pending_journal"`}},
		{"deltas out of range", "[serve]\ndeltas = 33\n", []string{`"serve.deltas"`, "0 (no patches) to 32"}},
		{"tiny engine memory", "[serve]\nmax_memory = 1000\n", []string{`"serve.max_memory"`, "at least 67108864"}},
		{"tiny source memory", "[source.\"game/arena\"]\nmax_memory = 10\n", []string{`"source.game/arena.max_memory"`, "at least 1048576"}},
		{"memory as a string", "[serve]\nmax_memory = \"1GB\"\n", []string{`jawas.toml:2: key "serve.max_memory": expected an integer, got a string`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(write(t, tc.body))
			if err == nil {
				t.Fatal("expected an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestDurabilityParsesItself(t *testing.T) {
	for body, want := range map[string]journal.Durability{
		"":                                 journal.Sync, // the default
		"[serve]\ndurability = \"sync\"\n": journal.Sync,
		"[serve]\ndurability = \"none\"\n": journal.None,
	} {
		cfg, err := Load(write(t, body))
		if err != nil {
			t.Fatalf("%q: %v", body, err)
		}
		if cfg.Serve.Durability != want {
			t.Errorf("%q: durability %v, want %v", body, cfg.Serve.Durability, want)
		}
	}
}

func TestFetchAndEnvKeys(t *testing.T) {
	c, err := Load(write(t, `
[fetch]
allow = ["api.example.com", "*.internal:8443"]
max_body = 1000
max_concurrent = 2
[env]
allow = ["API_TOKEN"]
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Fetch.Allow) != 2 || c.Fetch.MaxBody != 1000 || c.Fetch.MaxConcurrent != 2 || c.Env.Allow[0] != "API_TOKEN" {
		t.Fatalf("values not read: %+v %+v", c.Fetch, c.Env)
	}
	if d := Default(); d.Fetch.MaxBody != 8<<20 || d.Fetch.MaxConcurrent != 8 {
		t.Errorf("defaults: %+v", d.Fetch)
	}
	for body, want := range map[string]string{
		"[fetch]\nallow = [\"https://api.example.com/v1\"]": `key "fetch.allow[0]": expected a host`,
		"[fetch]\nmax_body = 0":                             `key "fetch.max_body": must be a positive number of bytes`,
		"[fetch]\nmax_concurrent = -1":                      `key "fetch.max_concurrent": must be a positive count`,
		"[env]\nallow = [\"A=B\"]":                          `key "env.allow[0]": expected an environment variable name`,
	} {
		_, err := Load(write(t, body))
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), FileName) {
			t.Errorf("%q: err = %v, want %s", body, err, want)
		}
	}
}

// TestProxyAndCacheKeys: the trusted-proxy and cache_control keys parse,
// and each mistake names its key.
func TestProxyAndCacheKeys(t *testing.T) {
	c := Default()
	err := Parse(&c, "jawas.toml", []byte(`
[serve]
trusted_proxies = ["10.0.0.0/8", "192.0.2.7"]
proxy_protocol = true
forwarded_header = "Forwarded"
[serve.cache_control]
s_maxage = "2s"
stale_while_revalidate = 1
stale_if_error = "10m"
`))
	if err != nil {
		t.Fatal(err)
	}
	cc := c.Serve.CacheControl
	if len(c.TrustedProxies()) != 2 || !c.Serve.ProxyProtocol || !cc.Enabled() ||
		cc.SMaxage.Of(time.Second) != 2*time.Second || cc.StaleWhileRevalidate.Of(500*time.Millisecond) != 500*time.Millisecond ||
		cc.StaleIfError.Of(time.Second) != 10*time.Minute {
		t.Fatalf("parsed %+v %+v", c.Serve, cc)
	}
	if Default().Serve.CacheControl.Enabled() {
		t.Fatal("cache_control enabled by default")
	}
	for _, tc := range []struct{ toml, key string }{
		{"[serve]\ntrusted_proxies = [\"10.0.0.0/33\"]", `"serve.trusted_proxies[0]"`},
		{"[serve]\nproxy_protocol = true", `"serve.proxy_protocol"`},
		{"[serve]\nforwarded_header = \"x-real-ip\"", `"serve.forwarded_header"`},
		{"[serve.cache_control]\ns_maxage = \"500ms\"", `"serve.cache_control.s_maxage"`},
		{"[serve.cache_control]\ns_maxage = 2", `"serve.cache_control.s_maxage"`},
		{"[serve.cache_control]\nstale_if_error = \"soon\"", `"serve.cache_control.stale_if_error"`},
		{"[serve.cache_control]\nstale_if_error = -1", `"serve.cache_control.stale_if_error"`},
		{"[serve.cache_control]\nstale_while_revalidate = true", `"serve.cache_control.stale_while_revalidate"`},
		{"[serve.cache_control]\nmax_age = 1", `"serve.cache_control.max_age"`},
	} {
		c := Default()
		err := Parse(&c, "jawas.toml", []byte(tc.toml))
		if err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%q: error %v, want one naming %s", tc.toml, err, tc.key)
		}
	}
}

func TestDatabases(t *testing.T) {
	dir := write(t, `
[db.main]
url = "sqlite:data/app.db"
[db.pg]
url = "postgres://app@127.0.0.1:5432/app?sslmode=disable"
pool = 8
statement_timeout = "2s"
`)
	c, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if d := c.DB["main"]; d.URL != "sqlite:data/app.db" || d.DBPool() != DefaultDBPool || d.StatementTimeout.Duration != 0 {
		t.Fatalf("db.main = %+v", d)
	}
	if d := c.DB["pg"]; d.DBPool() != 8 || d.StatementTimeout.Duration != 2*time.Second {
		t.Fatalf("db.pg = %+v", d)
	}
}

func TestDatabaseErrorsNameTheKey(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{"[db.main]\nurl = \"mysql://x@h/db\"", `key "db.main.url": unknown scheme "mysql" (expected sqlite: or postgres://)`},
		{"[db.main]\nurl = \"data/app.db\"", `key "db.main.url": no scheme in "data/app.db" (expected sqlite: or postgres://, such as "sqlite:data/app.db")`},
		{"[db.main]\npool = 2", `key "db.main.url": missing`},
		{"[db.main]\nurl = \"sqlite:\"", `key "db.main.url": expected a file path after "sqlite:"`},
		{"[db.main]\nurl = \"sqlite::memory:\"", `key "db.main.url": expected a file path`},
		{"[db.main]\nurl = \"postgres://u:secret@h:99999999999/x%zz\"", `key "db.main.url": not a valid postgres:// URL`},
		{"[db.main]\nurl = \"sqlite:a.db\"\npool = -1", `key "db.main.pool": expected 0 (the default, 4) to 1000 connections, got -1`},
		{"[db.main]\nurl = \"sqlite:a.db\"\nstatement_timeout = \"-1s\"", `key "db.main.statement_timeout": expected 0 (none) or a positive duration`},
		{"[db.main]\nurl = \"sqlite:a.db\"\nstatement_timeout = \"soon\"", `key "db.main.statement_timeout": expected a duration`},
		{"[db.main]\nurl = \"sqlite:a.db\"\nsize = 3", `unknown key "db.main.size"`},
		{"[db.\"a b\"]\nurl = \"sqlite:a.db\"", `key "db.a b": a database name must be`},
	} {
		_, err := Load(write(t, tc.body))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want it to contain %q", tc.body, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("%q: the error shows the password: %v", tc.body, err)
		}
	}
}
