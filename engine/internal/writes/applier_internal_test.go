package writes

import (
	"slices"
	"testing"

	"github.com/jawas/jawas/engine/internal/journal"
)

// TestDropApplied: the records a source's holder applied leave its queue,
// the others move to the front of the same array (which then holds nothing
// of the applied ones), and an array far larger than the boundary needed
// is given up.
func TestDropApplied(t *testing.T) {
	rec := func(id string) journal.Record { return journal.Record{ID: id, Body: []byte(id)} }
	ids := func(q []journal.Record) []string {
		var out []string
		for _, r := range q {
			out = append(out, r.ID)
		}
		return out
	}
	q := append(make([]journal.Record, 0, 8), rec("a"), rec("b"), rec("c"))
	held := q[:2:2]         // what take handed to the holder
	q = append(q, rec("d")) // another source's take queued one more meanwhile
	if got := ids(held); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("held %v", got)
	}
	array := q[:cap(q)]
	q = dropApplied(q, len(held))
	if got := ids(q); !slices.Equal(got, []string{"c", "d"}) {
		t.Errorf("queue %v, want [c d]", got)
	}
	if &q[0] != &array[0] {
		t.Error("the queue's array was not reused")
	}
	if array[2].ID != "" || array[3].Body != nil {
		t.Errorf("the array still holds applied records: %v", ids(array[2:4]))
	}

	big := make([]journal.Record, 3, 4*maxKeptRecords+1)
	big[2] = rec("x")
	if q := dropApplied(big, 2); !slices.Equal(ids(q), []string{"x"}) || cap(q) > 4*maxKeptRecords {
		t.Errorf("after a small boundary, queue %v with room for %d records", ids(q), cap(q))
	}
	if q := dropApplied(big[:2], 2); q != nil {
		t.Errorf("an emptied oversized queue is %d records of room, want nil", cap(q))
	}
}
