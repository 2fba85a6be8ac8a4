package journal

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const crashDirEnv = "JOURNAL_CRASH_CHILD_DIR"

// TestMain runs the test binary as the writer child of TestCrashRecovery
// when the environment says so, and as the tests otherwise.
func TestMain(m *testing.M) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		crashChild(dir)
		return
	}
	os.Exit(m.Run())
}

// crashChild is the child process of TestCrashRecovery: it appends and
// commits small batches as fast as it can, printing each acknowledged ID
// after Commit returns, until it is killed.
func crashChild(dir string) {
	slot, _ := strconv.Atoi(os.Getenv("JOURNAL_CRASH_CHILD_SLOT"))
	w, err := OpenWriter(dir, slot, WriterOptions{Durability: Sync, SegmentSize: 4096})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	for {
		n := 1 + rand.IntN(8)
		ids := make([]string, 0, n)
		for range n {
			// The body is the sequence the record will get, so the parent
			// can tell a real record from one that was never appended.
			id, err := w.Append(&Record{Source: "crash", Method: "POST", Body: []byte(strconv.FormatUint(w.seq+1, 10))})
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
			ids = append(ids, id)
		}
		if err := w.Commit(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		os.Stdout.WriteString(strings.Join(ids, " ") + "\n")
	}
}

// TestCrashRecovery kills writer processes with SIGKILL at random moments
// while an engine loop reads, checkpoints and compacts the journal, then
// restarts the engine from its checkpoint: every acknowledged ID is applied
// exactly once, and nothing that was never appended is applied.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	dir := t.TempDir()

	var (
		mu    sync.Mutex
		acked = map[string]bool{}
	)
	eng := newCrashEngine(t, dir)
	stop := make(chan struct{})
	engineDone := make(chan error, 1)
	go func() { // the engine loop, concurrent with the writers
		for i := 0; ; i++ {
			select {
			case <-stop:
				engineDone <- nil
				return
			case <-time.After(15 * time.Millisecond):
			}
			if err := eng.step(i%4 == 3); err != nil {
				engineDone <- err
				return
			}
		}
	}()

	for round := range 5 {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, "JOURNAL_CRASH_CHILD_SLOT="+strconv.Itoa(round%2))
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan struct{}, 1)
		readDone := make(chan struct{})
		go func() {
			defer close(readDone)
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				mu.Lock()
				for _, id := range strings.Fields(sc.Text()) {
					acked[id] = true
				}
				mu.Unlock()
				select {
				case lines <- struct{}{}:
				default:
				}
			}
		}()
		select { // let it acknowledge something before the kill
		case <-lines:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			t.Fatal("child acknowledged nothing in 10s")
		}
		time.Sleep(time.Duration(50+rand.IntN(200)) * time.Millisecond)
		if err := cmd.Process.Kill(); err != nil { // SIGKILL, by pid
			t.Fatal(err)
		}
		<-readDone
		if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
			t.Fatalf("round %d: child ended with %v, want killed", round, err)
		}
	}
	close(stop)
	if err := <-engineDone; err != nil {
		t.Fatalf("engine loop: %v", err)
	}
	if err := eng.step(true); err != nil { // drain what the last child left
		t.Fatal(err)
	}

	// The engine restarts from its checkpoint and replays the rest.
	restarted := newCrashEngine(t, dir)
	if err := restarted.step(false); err != nil {
		t.Fatal(err)
	}
	if len(restarted.applied) != len(eng.applied) {
		t.Errorf("after restart %d events applied, before %d", len(restarted.applied), len(eng.applied))
	}
	if len(acked) < 5 {
		t.Fatalf("only %d acknowledged writes; the test proves nothing", len(acked))
	}
	for id := range acked {
		if !restarted.applied[id] {
			t.Errorf("acknowledged %s was lost", id)
		}
	}
	t.Logf("%d acknowledged, %d applied (the rest were written but killed before the ack)", len(acked), len(restarted.applied))
}

// crashEngine is the engine side of the crash test: its "state" is the set
// of event IDs applied, checkpointed as JSON.
type crashEngine struct {
	t       *testing.T
	dir     string
	r       *Reader
	pos     Positions
	applied map[string]bool
}

func newCrashEngine(t *testing.T, dir string) *crashEngine {
	cp, err := LoadCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := OpenReader(dir)
	if err != nil {
		t.Fatal(err)
	}
	e := &crashEngine{t: t, dir: dir, r: r, pos: cp.Positions, applied: map[string]bool{}}
	if s, ok := cp.States["crash"]; ok {
		if err := json.Unmarshal(s, &e.applied); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// step applies what is new and, when checkpoint is set, checkpoints and
// compacts. It runs in the engine goroutine, so it returns errors.
func (e *crashEngine) step(checkpoint bool) error {
	recs, next, err := e.r.ReadNew(e.pos, time.Time{})
	if err != nil {
		return err
	}
	for _, rec := range recs {
		if e.applied[rec.ID] {
			return fmt.Errorf("event %s applied twice", rec.ID)
		}
		inc, seq, ok := ParseID(rec.ID)
		if !ok || rec.Seq != seq || string(rec.Body) != strconv.FormatUint(seq, 10) || len(inc) != incDigits {
			return fmt.Errorf("record %+v was never appended", rec)
		}
		e.applied[rec.ID] = true
	}
	e.pos = next
	if !checkpoint {
		return nil
	}
	state, err := json.Marshal(e.applied)
	if err != nil {
		return err
	}
	cp := &Checkpoint{Positions: e.pos.Clone(), States: map[string]json.RawMessage{"crash": state}}
	if err := SaveCheckpoint(e.dir, cp); err != nil {
		return err
	}
	return e.r.Compact(cp)
}
