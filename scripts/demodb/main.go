// Command demodb builds the demo's SQLite database, data/demo.db, from the
// SQL script beside it, data/demo.sql (`make demo-db`). The database is
// committed so that a fresh clone runs the demo as it is; the package's
// test fails when the committed file no longer holds what the script says.
//
// Usage: go run ./scripts/demodb [-sql data/demo.sql] [-o data/demo.db]
package main

import (
	"database/sql"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite"
)

func main() {
	src := flag.String("sql", "data/demo.sql", "the SQL script")
	out := flag.String("o", "data/demo.db", "the database to write (replaced)")
	flag.Parse()
	if err := build(*src, *out); err != nil {
		fmt.Fprintln(os.Stderr, "demodb:", err)
		os.Exit(1)
	}
}

// build runs the script on a new database next to out and renames it over
// out, so a reader never sees half a database.
func build(src, out string) error {
	script, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(out), "."+filepath.Base(out)+".tmp")
	os.Remove(tmp)
	defer os.Remove(tmp)
	db, err := sql.Open("sqlite", "file:"+tmp+"?_pragma=journal_mode(delete)")
	if err != nil {
		return err
	}
	defer db.Close()
	for _, q := range []string{"PRAGMA page_size = 4096", string(script), "VACUUM"} {
		if _, err := db.Exec(q); err != nil {
			return fmt.Errorf("%s: %w", src, err)
		}
	}
	if err := db.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}
