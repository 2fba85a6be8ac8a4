// This file implements the one mapping from database values to JSON-able Go
// values that both drivers share, because a source must see the same
// JavaScript value for the same data whichever database holds it:
//
//	NULL                          nil
//	boolean (SQLite: BOOL*)       bool
//	integer within ±(2^53−1)      int64
//	integer beyond it             string, decimal ("9007199254740993")
//	float                         float64 (NaN, ±Infinity as "NaN", "Infinity", "-Infinity")
//	numeric/decimal               string, as the database prints it ("12.50")
//	timestamp, timestamptz        string, RFC 3339 in UTC with milliseconds ("2024-03-05T06:07:08.123Z")
//	date                          string ("2024-03-05")
//	bytes (bytea, BLOB)           string, standard base64 with padding
//	json, jsonb (SQLite: JSON*)   the JSON text as json.RawMessage (parsed by JavaScript: keys keep their order)
//	text and anything else        string
//
// SQLite has no column types of its own, so the declared type of a table
// column picks the mapping: a declared type containing BOOL gives booleans,
// JSON parsed JSON, NUMERIC or DECIMAL decimal strings, and DATE, DATETIME or
// TIMESTAMP… times; an expression (no declared type) keeps SQLite's value.
package sqldb

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"time"
)

// maxSafe is JavaScript's Number.MAX_SAFE_INTEGER: integers beyond it
// cannot round-trip through a JavaScript number, so they become strings.
const maxSafe = 1<<53 - 1

func intValue(v int64) any {
	if v > maxSafe || v < -maxSafe {
		return strconv.FormatInt(v, 10)
	}
	return v
}

func floatValue(f float64) any {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return f
}

// timestampLayout is RFC 3339 with milliseconds, as JavaScript's
// Date.prototype.toISOString prints.
const timestampLayout = "2006-01-02T15:04:05.000Z"

func timestampValue(t time.Time) string { return t.UTC().Format(timestampLayout) }

// dateValue prints a date as stored, without moving it to UTC first (a
// date has no zone).
func dateValue(t time.Time) string { return t.Format("2006-01-02") }

func bytesValue(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// jsonValue keeps valid JSON text as it is (json.RawMessage, parsed by the
// JavaScript side), so an object's keys keep the order the database gives
// them: parsed into a Go map here, they reached the render sorted. Text
// that is not JSON stays a string, so a bad row in a JSON column does not
// fail the whole query.
func jsonValue(b []byte) any {
	if !json.Valid(b) {
		return string(b)
	}
	return json.RawMessage(bytes.Clone(b))
}

// bindParams checks each parameter and turns it into a value both drivers
// bind: nil, bool, int64, float64, string, []byte or time.Time. Objects and
// arrays are bound as JSON text, a big integer (a JavaScript BigInt) as its
// decimal string.
func bindParams(params []any) ([]any, error) {
	out := make([]any, len(params))
	for i, v := range params {
		switch x := v.(type) {
		case nil, bool, int64, float64, string, []byte:
			out[i] = x
		case time.Time:
			out[i] = x.UTC()
		case int:
			out[i] = int64(x)
		case int8:
			out[i] = int64(x)
		case int16:
			out[i] = int64(x)
		case int32:
			out[i] = int64(x)
		case uint8:
			out[i] = int64(x)
		case uint16:
			out[i] = int64(x)
		case uint32:
			out[i] = int64(x)
		case uint:
			if uint64(x) > math.MaxInt64 {
				out[i] = strconv.FormatUint(uint64(x), 10)
			} else {
				out[i] = int64(x)
			}
		case uint64:
			if x > math.MaxInt64 {
				out[i] = strconv.FormatUint(x, 10)
			} else {
				out[i] = int64(x)
			}
		case float32:
			out[i] = float64(x)
		case *big.Int:
			if x.IsInt64() {
				out[i] = x.Int64()
			} else {
				out[i] = x.String()
			}
		case map[string]any, []any:
			b, err := json.Marshal(x)
			if err != nil {
				return nil, fmt.Errorf("parameter $%d: cannot encode as JSON: %w", i+1, err)
			}
			out[i] = string(b)
		default:
			return nil, fmt.Errorf("parameter $%d: cannot bind a value of Go type %T (use null, a boolean, a number, a string, bytes, a Date, or an object or array for JSON)", i+1, v)
		}
	}
	return out, nil
}
