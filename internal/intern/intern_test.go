package intern

import (
	"fmt"
	"strings"
	"testing"
	"unsafe"
)

func TestTable(t *testing.T) {
	tb := Table{MaxLen: 8, Max: 16}
	a, b := tb.String([]byte("abc")), tb.String([]byte("abc"))
	if a != "abc" || unsafe.StringData(a) != unsafe.StringData(b) {
		t.Fatalf("equal values: %q and %q are not one string", a, b)
	}
	long := strings.Repeat("x", 9)
	if s := tb.String([]byte(long)); s != long || tb.Len() != 1 {
		t.Fatalf("a value over MaxLen: %q, %d kept; want it copied, not kept", s, tb.Len())
	}
	for i := range 100 {
		if s := fmt.Sprint(i); tb.String([]byte(s)) != s {
			t.Fatalf("String(%q) is wrong", s)
		}
		if tb.Len() > 16 {
			t.Fatalf("%d values kept, more than Max 16", tb.Len())
		}
	}
	var none *Table
	if s := none.String([]byte("abc")); s != "abc" {
		t.Fatalf("nil table: %q", s)
	}
	if s := tb.String(nil); s != "" {
		t.Fatalf("empty value: %q", s)
	}
}
