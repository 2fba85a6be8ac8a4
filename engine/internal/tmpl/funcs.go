package tmpl

import (
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"strings"
	"time"
)

// funcs are the functions every template can call.
var funcs = template.FuncMap{
	"json":       jsonFunc,
	"formatTime": formatTime,
}

// jsonFunc marshals v for use inside <script> (or an attribute). json.Marshal
// escapes <, >, &, U+2028 and U+2029, so the result cannot close the script
// element or break a JS string; it is marked as JS so html/template inserts
// it as is in script context and escapes it anywhere else.
func jsonFunc(v any) (template.JS, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("json: %w", err)
	}
	return template.JS(b), nil
}

var layouts = map[string]string{
	"RFC3339":     time.RFC3339,
	"RFC3339Nano": time.RFC3339Nano,
	"RFC1123":     time.RFC1123,
	"Kitchen":     time.Kitchen,
	"DateTime":    time.DateTime,
	"DateOnly":    time.DateOnly,
	"TimeOnly":    time.TimeOnly,
}

// formatTime formats t with layout. t is a time.Time, a number of unix
// milliseconds (what snapshots carry: JSON numbers decode to float64), or an
// RFC 3339 string. Times are formatted in UTC: a page is the same for everyone.
func formatTime(layout string, t any) (string, error) {
	if l, ok := layouts[layout]; ok {
		layout = l
	}
	var tm time.Time
	switch v := t.(type) {
	case time.Time:
		tm = v
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return "", fmt.Errorf("formatTime: %v is not a time", v)
		}
		tm = time.UnixMilli(int64(v))
	case int:
		tm = time.UnixMilli(int64(v))
	case int64:
		tm = time.UnixMilli(v)
	case json.Number:
		ms, err := v.Float64()
		if err != nil {
			return "", fmt.Errorf("formatTime: %w", err)
		}
		tm = time.UnixMilli(int64(ms))
	case string:
		var err error
		if tm, err = time.Parse(time.RFC3339Nano, strings.TrimSpace(v)); err != nil {
			return "", fmt.Errorf("formatTime: %w", err)
		}
	case nil:
		return "", nil
	default:
		return "", fmt.Errorf("formatTime: cannot format %T as a time", t)
	}
	return tm.UTC().Format(layout), nil
}
