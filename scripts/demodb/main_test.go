package main

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// dump lists every table's rows of the database at path, in order.
func dump(t *testing.T, path string) string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var b strings.Builder
	tables, err := db.Query("SELECT name, sql FROM sqlite_schema ORDER BY name")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for tables.Next() {
		var name string
		var ddl sql.NullString
		if err := tables.Scan(&name, &ddl); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s: %s\n", name, ddl.String)
		if strings.HasPrefix(ddl.String, "CREATE TABLE") {
			names = append(names, name)
		}
	}
	tables.Close()
	for _, name := range names {
		rows, err := db.Query(`SELECT * FROM "` + name + `" ORDER BY rowid`)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "%s %v\n", name, vals)
		}
		rows.Close()
	}
	return b.String()
}

// TestCommittedDatabaseMatchesScript: data/demo.db holds exactly what
// data/demo.sql creates.
func TestCommittedDatabaseMatchesScript(t *testing.T) {
	fresh := filepath.Join(t.TempDir(), "demo.db")
	if err := build("../../data/demo.sql", fresh); err != nil {
		t.Fatal(err)
	}
	want, got := dump(t, fresh), dump(t, "../../data/demo.db")
	if !strings.Contains(want, "sales [40 ") {
		t.Fatalf("the script's database lacks its 40 sales:\n%s", want)
	}
	if got != want {
		t.Errorf("data/demo.db differs from data/demo.sql: run `make demo-db` and commit it\ncommitted:\n%s\nscript:\n%s", got, want)
	}
}
