package config

// This file finds where keys are in jawas.toml and what an unknown key was
// probably meant to be, because the TOML decoder reports an unknown key
// without its line (its positions are private) and an author who typed
// `perod`, or put `period` under [serve], deserves the line and the key
// they meant.

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/BurntSushi/toml"
)

// keyLines maps each key the file defines (toml.Key.String(), as
// MetaData reports them) to its 1-based line: table headers and
// key = value lines, dotted and quoted keys included. It reads lines
// the way TOML writes them, not TOML's full grammar (a multi-line
// string's lines are skipped only when they do not look like keys); a
// key it cannot place is simply absent.
func keyLines(data []byte) map[string]int {
	lines := map[string]int{}
	var table []string
	for i, line := range strings.Split(string(data), "\n") {
		s := strings.TrimSpace(line)
		if s == "" || s[0] == '#' {
			continue
		}
		if s[0] == '[' {
			inner := strings.TrimPrefix(strings.TrimPrefix(s, "["), "[")
			if end := strings.IndexByte(inner, ']'); end >= 0 {
				if k, ok := parseKey(inner[:end]); ok {
					table = k
					if _, seen := lines[keyString(k)]; !seen {
						lines[keyString(k)] = i + 1
					}
				}
			}
			continue
		}
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			continue
		}
		k, ok := parseKey(s[:eq])
		if !ok {
			continue
		}
		full := append(append([]string{}, table...), k...)
		if _, seen := lines[keyString(full)]; !seen {
			lines[keyString(full)] = i + 1
		}
	}
	return lines
}

func keyString(k []string) string { return toml.Key(k).String() }

// parseKey splits a TOML key (bare, "quoted" or 'literal' parts joined by
// dots) into its parts.
func parseKey(s string) ([]string, bool) {
	var parts []string
	s = strings.TrimSpace(s)
	for {
		if s == "" {
			return nil, false
		}
		var part string
		switch s[0] {
		case '"', '\'':
			end := strings.IndexByte(s[1:], s[0])
			if end < 0 {
				return nil, false
			}
			part, s = s[1:1+end], s[2+end:]
		default:
			n := 0
			for n < len(s) && (s[n] == '_' || s[n] == '-' || s[n] >= '0' && s[n] <= '9' || s[n]|0x20 >= 'a' && s[n]|0x20 <= 'z') {
				n++
			}
			if n == 0 {
				return nil, false
			}
			part, s = s[:n], s[n:]
		}
		parts = append(parts, part)
		s = strings.TrimSpace(s)
		if s == "" {
			return parts, true
		}
		if s[0] != '.' {
			return nil, false
		}
		s = strings.TrimSpace(s[1:])
	}
}

// knownKeys lists every key jawas.toml may hold, as dotted names
// ("period", "serve.listen", "source.*.period"), from Config's toml tags.
func knownKeys() []string {
	var out []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			if name == "" || name == "-" {
				continue
			}
			switch {
			case f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(Duration{}):
				walk(f.Type, prefix+name+".")
			case f.Type.Kind() == reflect.Map:
				walk(f.Type.Elem(), prefix+name+".*.")
			default:
				out = append(out, prefix+name)
			}
		}
	}
	walk(reflect.TypeOf(Config{}), "")
	return out
}

// unknownKeyHint says what an unknown key (its parts) was probably meant
// to be: a known key of the same table one or two typos away, or the same
// name in another table (`period` written under [serve] is serve.period,
// but period is a top-level key). "" when nothing is close.
func unknownKeyHint(key []string) string {
	if len(key) == 0 {
		return ""
	}
	last := key[len(key)-1]
	table := key[:len(key)-1]
	tableName := strings.Join(table, ".")
	if len(table) >= 2 && table[0] == "source" {
		tableName = "source.*"
	}
	var sameTable, otherTable []string
	for _, k := range knownKeys() {
		t, name := "", k
		if i := strings.LastIndexByte(k, '.'); i >= 0 {
			t, name = k[:i], k[i+1:]
		}
		if t == tableName {
			sameTable = append(sameTable, name)
		} else if Suggest(last, []string{name}) != "" {
			otherTable = append(otherTable, k)
		}
	}
	if s := Suggest(last, sameTable); s != "" {
		return fmt.Sprintf("did you mean %q?", keyString(append(append([]string{}, table...), s)))
	}
	for _, k := range otherTable {
		t, name, _ := strings.Cut(k, ".")
		if !strings.Contains(k, ".") {
			where := "put it above the first [table]"
			if len(table) > 0 {
				where = fmt.Sprintf("put it above [%s]", keyString(table))
			}
			return fmt.Sprintf("did you mean %q? It is a top-level key: %s", k, where)
		}
		if t == "source" {
			return fmt.Sprintf("did you mean %q? It is set per source, under [source.\"NAME\"]", name[strings.IndexByte(name, '.')+1:])
		}
		return fmt.Sprintf("did you mean %q? It belongs under [%s]", k, t)
	}
	return ""
}

// Suggest returns the candidate closest to name when it is close enough
// to be a typo of it (edit distance at most 1 for short names, 2 from 5
// characters, a third of the length from 9), else "".
func Suggest(name string, candidates []string) string {
	best, bestD := "", 0
	limit := 1
	if len(name) >= 5 {
		limit = 2
	}
	limit = max(limit, len(name)/3)
	for _, c := range candidates {
		d := editDistance(strings.ToLower(name), strings.ToLower(c))
		if d <= limit && (best == "" || d < bestD) {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b, counting a swap of
// two neighbouring characters as one edit.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
