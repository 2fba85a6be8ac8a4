// Package intern hands out one string per distinct value for byte strings
// that repeat from one message to the next (a request's header values, a
// journal record's source name), so that converting them allocates once
// per value rather than once per message.
package intern

// Table is a bounded set of strings; the zero value is ready, with no
// bound on a value's length and DefaultMax values. Not safe for concurrent
// use: one per goroutine.
type Table struct {
	// MaxLen: longer values are copied each time, never kept (0: none).
	MaxLen int
	// Max values are kept at most (0: DefaultMax); when full the table
	// starts again empty rather than grow, so a sender of ever-new values
	// costs a copy per value, as without a table, and bounded memory.
	Max int
	m   map[string]string
}

// DefaultMax is a Table's size when Max is 0.
const DefaultMax = 1024

// String returns b as a string, the same string for equal b while it is
// kept. A nil Table copies every value.
func (t *Table) String(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if t == nil || (t.MaxLen > 0 && len(b) > t.MaxLen) {
		return string(b)
	}
	if s, ok := t.m[string(b)]; ok { // the lookup does not allocate
		return s
	}
	max := t.Max
	if max <= 0 {
		max = DefaultMax
	}
	if t.m == nil || len(t.m) >= max {
		t.m = make(map[string]string, 64)
	}
	s := string(b)
	t.m[s] = s
	return s
}

// Len returns how many values the table keeps now.
func (t *Table) Len() int { return len(t.m) }
