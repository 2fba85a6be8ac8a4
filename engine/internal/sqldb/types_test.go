package sqldb

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// typeCase is one row of the type-mapping table both drivers must pass:
// a column declared with each database's type, holding a literal, must
// come back as want.
type typeCase struct {
	name                  string
	sqliteType, sqliteLit string
	pgType, pgLit         string
	want                  any
}

var typeTable = []typeCase{
	{"text", "TEXT", "'héllo \"x\"'", "text", "'héllo \"x\"'", "héllo \"x\""},
	{"varchar", "VARCHAR(10)", "'abc'", "varchar(10)", "'abc'", "abc"},
	{"small int", "INTEGER", "42", "int4", "42", int64(42)},
	{"smallint", "SMALLINT", "-5", "int2", "-5", int64(-5)},
	{"max safe int", "INTEGER", "9007199254740991", "int8", "9007199254740991", int64(9007199254740991)},
	{"min safe int", "INTEGER", "-9007199254740991", "int8", "-9007199254740991", int64(-9007199254740991)},
	{"int beyond 2^53", "INTEGER", "9007199254740993", "int8", "9007199254740993", "9007199254740993"},
	{"int 2^53", "BIGINT", "9007199254740992", "int8", "9007199254740992", "9007199254740992"},
	{"min int64", "INTEGER", "-9223372036854775808", "int8", "-9223372036854775808", "-9223372036854775808"},
	{"float", "REAL", "1.5", "float8", "1.5", 1.5},
	{"float tenth", "REAL", "0.1", "float8", "0.1", 0.1},
	{"float4", "FLOAT", "0.1", "float4", "0.1", 0.1},
	{"float infinity", "REAL", "9e999", "float8", "'Infinity'", "Infinity"},
	{"numeric", "NUMERIC", "12.5", "numeric", "12.5", "12.5"},
	{"numeric integral", "DECIMAL(20,0)", "100", "numeric(20,0)", "100", "100"},
	{"bool true", "BOOLEAN", "TRUE", "bool", "true", true},
	{"bool false", "BOOLEAN", "FALSE", "bool", "false", false},
	{"bytes", "BLOB", "x'00ff10'", "bytea", `'\x00ff10'`, "AP8Q"},
	{"json object", "JSON", `'{"a":[1,"x",null],"b":true}'`, "jsonb", `'{"a":[1,"x",null],"b":true}'`, map[string]any{"a": []any{1.0, "x", nil}, "b": true}},
	{"json array", "JSON", `'[1,2.5]'`, "json", `'[1,2.5]'`, []any{1.0, 2.5}},
	{"json string", "JSONB", `'"s"'`, "jsonb", `'"s"'`, "s"},
	{"timestamp", "TIMESTAMP", "'2024-03-05 06:07:08.123'", "timestamp", "'2024-03-05 06:07:08.123'", "2024-03-05T06:07:08.123Z"},
	{"timestamp no fraction", "DATETIME", "'2024-03-05 06:07:08'", "timestamp", "'2024-03-05 06:07:08'", "2024-03-05T06:07:08.000Z"},
	{"timestamptz", "TIMESTAMPTZ", "'2024-03-05T07:07:08.123456+01:00'", "timestamptz", "'2024-03-05T07:07:08.123456+01:00'", "2024-03-05T06:07:08.123Z"},
	{"date", "DATE", "'2024-03-05'", "date", "'2024-03-05'", "2024-03-05"},
}

// typeTableSQL returns the DDL, the insert of the literals and the insert
// of a row of NULLs for one driver.
func typeTableSQL(sqlite bool) (create, insert, insertNulls string) {
	var cols, lits, nulls []string
	for i, tc := range typeTable {
		typ, lit := tc.pgType, tc.pgLit
		if sqlite {
			typ, lit = tc.sqliteType, tc.sqliteLit
		}
		cols = append(cols, fmt.Sprintf("c%d %s", i, typ))
		lits = append(lits, lit)
		nulls = append(nulls, "NULL")
	}
	return "CREATE TABLE types (" + strings.Join(cols, ", ") + ")",
		"INSERT INTO types VALUES (" + strings.Join(lits, ", ") + ")",
		"INSERT INTO types VALUES (" + strings.Join(nulls, ", ") + ")"
}

// checkTypeTable reads the table back through p and compares every cell.
func checkTypeTable(t *testing.T, p *Pools, db string) {
	t.Helper()
	res, err := p.Query(context.Background(), db, "SELECT * FROM types", nil, ReadOnly)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 2 || len(res.Columns) != len(typeTable) {
		t.Fatalf("got %d rows of %d columns, want 2 of %d", len(res.Rows), len(res.Columns), len(typeTable))
	}
	for i, tc := range typeTable {
		t.Run(tc.name, func(t *testing.T) {
			if want := fmt.Sprintf("c%d", i); res.Columns[i] != want {
				t.Errorf("column %d is %q, want %q", i, res.Columns[i], want)
			}
			got := res.Rows[0][i]
			if raw, ok := got.(json.RawMessage); ok {
				// JSON columns come back as their text (jsonb spaces it
				// out): compare what it parses to.
				if !isJSONCase(tc) {
					t.Errorf("a %s column came back as JSON text %s", tc.name, raw)
				}
				if err := json.Unmarshal(raw, &got); err != nil {
					t.Fatalf("JSON column text %q: %v", raw, err)
				}
			} else if isJSONCase(tc) {
				t.Errorf("a JSON column came back as %#v (%T), want its text as json.RawMessage", got, got)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v (%T), want %#v (%T)", got, got, tc.want, tc.want)
			}
			if got := res.Rows[1][i]; got != nil {
				t.Errorf("NULL came back as %#v", got)
			}
		})
	}
	if _, err := json.Marshal(res.Rows); err != nil {
		t.Fatalf("rows are not JSON-able: %v", err)
	}
}

func isJSONCase(tc typeCase) bool { return strings.HasPrefix(tc.name, "json ") }
