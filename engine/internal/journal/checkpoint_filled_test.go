package journal

import "testing"

// TestCheckpointFilled: every way the engine gets a checkpoint (none, an
// old file, a cluster's encoded one without the state lifecycle's table)
// gives tables it can write to. A nil Meta from DecodeCheckpoint made a
// cluster leader panic inside NewEngine.
func TestCheckpointFilled(t *testing.T) {
	var none *Checkpoint
	dec, err := DecodeCheckpoint([]byte(`{"boundary":"2026-01-01T00:00:00Z"}`))
	if err != nil {
		t.Fatal(err)
	}
	for name, cp := range map[string]*Checkpoint{"nil": none.Filled(), "decoded": dec, "empty": (&Checkpoint{}).Filled()} {
		if cp.Positions == nil || cp.States == nil || cp.Events == nil || cp.Meta == nil {
			t.Fatalf("%s: a nil table: %+v", name, cp)
		}
		cp.Meta["s"] = SourceMeta{}
		cp.States["s"] = []byte("null")
	}
}
