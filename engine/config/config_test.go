package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
		{"unknown top key", "perod = \"1s\"\n", []string{"jawas.toml", `unknown key "perod"`}},
		{"unknown nested key", "[serve]\nlisten = \"127.0.0.1:1\"\nworkerz = 2\n", []string{`"serve.workerz"`}},
		{"bad duration", "period = \"fast\"\n", []string{"jawas.toml:1", `"period"`, "expected a duration"}},
		{"wrong type", "[serve]\nworkers = \"two\"\n", []string{`jawas.toml:2: key "serve.workers": expected an integer, got a string`}},
		{"number for a string", "[serve]\nlisten = 8080\n", []string{`jawas.toml:2: key "serve.listen": expected a string, got an integer`}},
		{"string for a list", "[serve]\ncors_origins = \"*\"\n", []string{`jawas.toml:2: key "serve.cors_origins": expected an array, got a string`}},
		{"boolean for an integer", "[serve]\nworkers = true\n", []string{`jawas.toml:2: key "serve.workers": expected an integer, got a boolean`}},
		{"decimal for an integer", "\n[serve]\nworkers = 1.5\n", []string{`jawas.toml:3: key "serve.workers": expected an integer, got a decimal number`}},
		{"negative workers", "[serve]\nworkers = -1\n", []string{`"serve.workers"`, "got -1"}},
		{"bad durability", "[serve]\ndurability = \"maybe\"\n", []string{`"serve.durability"`, `"sync" or "none"`}},
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
