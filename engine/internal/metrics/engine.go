package metrics

// This file implements the engine's side: after each commit the engine
// records every source's status into a small JSON file under the metrics
// folder (temp file + rename, so readers never see half of it). JSON keeps
// the error text and file:line readable by any worker without a
// shared-memory string protocol. With Recorder.Refresh set, a commit that
// only moved counters and times is written at most every Refresh.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/jawas/jawas/engine"
	"github.com/jawas/jawas/internal/atomicfile"
)

// EngineFile is the engine status file's name under the metrics folder.
const EngineFile = "engine.json"

// EvalBuckets are the upper bounds, in microseconds, of the evaluation-time
// histogram (the last bucket, +Inf, is implicit).
var EvalBuckets = []int64{100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000}

// SourceStatus is one source as the status page shows it: the engine's
// status of it plus its evaluation-time histogram.
type SourceStatus struct {
	engine.SourceStatus
	Hist Hist `json:"eval_hist"`
}

// Hist is a cumulative evaluation-time histogram: Counts[i] evaluations
// took at most EvalBuckets[i] µs (and more than the bucket before); the last
// element counts the rest.
type Hist struct {
	Counts    []uint64 `json:"counts"`
	SumMicros uint64   `json:"sum_us"`
}

func (h *Hist) observe(us int64, n uint64) {
	if len(h.Counts) != len(EvalBuckets)+1 {
		h.Counts = make([]uint64, len(EvalBuckets)+1)
	}
	i := 0
	for i < len(EvalBuckets) && us > EvalBuckets[i] {
		i++
	}
	h.Counts[i] += n
	h.SumMicros += uint64(max(us, 0)) * n
}

// JournalStats is the write journal's state seen from the engine (commits
// and fsyncs happen in the workers and are counted in their Serve files).
type JournalStats struct {
	BacklogBytes int64 `json:"backlog_bytes"` // journal bytes not yet applied
}

// EngineStatus is the content of the engine status file.
type EngineStatus struct {
	PID         int            `json:"pid"`
	Started     time.Time      `json:"started"`
	Updated     time.Time      `json:"updated"`      // last Record
	Commits     uint64         `json:"commits"`      // manifest commits
	LastPublish time.Time      `json:"last_publish"` // newest publish of any source
	Sources     []SourceStatus `json:"sources"`
	Journal     *JournalStats  `json:"journal,omitempty"`
}

// Recorder keeps the engine's cumulative numbers and writes the status
// file. Record must be called from one goroutine at a time (the
// scheduler's publisher).
type Recorder struct {
	dir     string
	st      EngineStatus
	seen    map[string]uint64 // evaluations already in the histogram
	hist    map[string]*Hist
	Journal func() JournalStats // optional; called by Record when it writes

	// Refresh, when positive, lets Record skip writing the file while
	// nothing in it changed but counters and times (evaluations and their
	// times, versions, ETags, sizes, last publish and boundary, the
	// journal backlog) and the file is younger than Refresh, or younger
	// than HealthMaxMissed/2 periods of the fastest source (the health
	// check judges the last publishes it reads here, and must not see a
	// working source as late). A source's failure, recovery, quarantine,
	// or the set of sources changing is written at once. Writing the
	// file every period was 5 writes and journal scans a second for the
	// demo (bench/README.md "Idle server").
	Refresh         time.Duration
	HealthMaxMissed int

	written time.Time     // when the file was last written; zero: never
	shape   []statusShape // what was written then, but the counters and times
}

// statusShape is what of a source's status is written at once when it
// changes.
type statusShape struct {
	name, url, file           string
	periodMs                  int64
	errors, skipped, failures uint64
	lastErrorAt, failingSince int64
	quarantined               string
	memoryHits                int
}

func shapeOf(dst []statusShape, sources []SourceStatus) []statusShape {
	dst = dst[:0]
	for i := range sources {
		s := &sources[i]
		dst = append(dst, statusShape{name: s.Name, url: s.URL, file: s.File, periodMs: s.PeriodMs,
			errors: s.Errors, skipped: s.Skipped, failures: s.Failures,
			lastErrorAt: s.LastErrorAt.UnixNano(), failingSince: s.FailingSince.UnixNano(),
			quarantined: s.Quarantined, memoryHits: s.MemoryHits})
	}
	return dst
}

// due reports whether Record must write the file at now.
func (r *Recorder) due(now time.Time, sources []SourceStatus) bool {
	if r.Refresh <= 0 || r.written.IsZero() {
		return true
	}
	every := r.Refresh
	if r.HealthMaxMissed > 0 {
		for i := range sources {
			p := time.Duration(max(sources[i].PeriodMs, 1)) * time.Millisecond
			every = min(every, p*time.Duration(r.HealthMaxMissed)/2)
		}
	}
	if now.Sub(r.written) >= every || len(sources) != len(r.shape) {
		return true
	}
	for i, sh := range shapeOf(nil, sources) {
		if sh != r.shape[i] {
			return true
		}
	}
	return false
}

// NewRecorder returns a recorder writing under dir (the metrics folder).
func NewRecorder(dir string) (*Recorder, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	return &Recorder{dir: dir, st: EngineStatus{PID: os.Getpid(), Started: time.Now()},
		seen: map[string]uint64{}, hist: map[string]*Hist{}}, nil
}

// Record takes the sources' statuses after a commit and rewrites the
// status file (see Refresh). The histogram learns each evaluation from the growth of
// Evaluations and the last EvalMicros: exact when it is called after every
// boundary (a source evaluates at most once per boundary); when several
// evaluations happened between two calls, they are all attributed the last
// one's time.
func (r *Recorder) Record(now time.Time, sources []SourceStatus) error {
	r.st.Updated = now
	r.st.Commits++
	for i := range sources {
		s := &sources[i]
		h := r.hist[s.Name]
		if h == nil {
			h = &Hist{}
			h.observe(0, 0)
			r.hist[s.Name] = h
		}
		if n := s.Evaluations - r.seen[s.Name]; n > 0 && s.Evaluations >= r.seen[s.Name] {
			h.observe(s.EvalMicros, n)
		}
		r.seen[s.Name] = s.Evaluations
		s.Hist = *h
		if s.LastPublish.After(r.st.LastPublish) {
			r.st.LastPublish = s.LastPublish
		}
	}
	r.st.Sources = sources
	if !r.due(now, sources) {
		return nil
	}
	if r.Journal != nil {
		j := r.Journal()
		r.st.Journal = &j
	}
	b, err := json.Marshal(&r.st)
	if err != nil {
		return fmt.Errorf("metrics: encode engine status: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(r.dir, EngineFile), b, 0o644, atomicfile.Options{}); err != nil {
		return fmt.Errorf("metrics: publish engine status: %w", err)
	}
	r.written, r.shape = now, shapeOf(r.shape, sources)
	return nil
}

// ReadEngine reads the engine status file under dir; nil without error when
// the engine has not written one yet.
func ReadEngine(dir string) (*EngineStatus, error) {
	b, err := os.ReadFile(filepath.Join(dir, EngineFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("metrics: read engine status: %w", err)
	}
	var st EngineStatus
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("metrics: engine status: %w", err)
	}
	return &st, nil
}
