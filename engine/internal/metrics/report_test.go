package metrics

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/jawas/jawas/engine"
)

// deadPID is a pid no process has (above the kernel's pid_max).
const deadPID = 1 << 30

func openServe(t *testing.T, dir string, slot, loop int) *ServeFile {
	t.Helper()
	sf, err := OpenServe(ServeFileName(dir, slot, loop))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sf.Close() })
	return sf
}

func TestServeCountersSumOverLoopsAndProcesses(t *testing.T) {
	dir := t.TempDir()
	a := openServe(t, dir, 1, 0)
	b := openServe(t, dir, 2, 0)
	for range 3 {
		a.C.Count(KindSnapshot, 200)
	}
	a.C.Count(KindSnapshot, 304)
	a.C.Count(KindOther, 404)
	a.C.Count(KindWrite, 999) // out of range: counted as 5xx
	b.C.Count(KindPage, 200)
	b.C.Count(KindAdmin, 503)
	a.C.Open.Store(5)
	b.C.Open.Store(7)
	a.C.BytesOut.Add(100)
	b.C.BytesOut.Add(23)
	b.C.JournalFsyncs.Add(4)

	tot, err := SumServe(dir)
	if err != nil {
		t.Fatal(err)
	}
	if tot.Loops != 2 {
		t.Errorf("loops = %d, want 2", tot.Loops)
	}
	if got := tot.Requests[KindSnapshot]; got != [5]uint64{0, 3, 1, 0, 0} {
		t.Errorf("snapshot requests by class = %v, want 3 2xx and 1 3xx", got)
	}
	if tot.Requests[KindWrite][4] != 1 || tot.Requests[KindOther][3] != 1 || tot.Requests[KindAdmin][4] != 1 || tot.Requests[KindPage][1] != 1 {
		t.Errorf("requests = %v", tot.Requests)
	}
	if tot.Total() != 8 || tot.NotModified != 1 || tot.BytesOut != 123 || tot.Open != 12 || tot.JournalFsyncs != 4 {
		t.Errorf("totals = %+v", tot)
	}

	// A process that died: its requests still count, its open connections
	// do not.
	b.word(16).Store(deadPID)
	if tot, _ = SumServe(dir); tot.Open != 5 || tot.Total() != 8 {
		t.Errorf("after b's process died: open %d (want 5), total %d (want 8)", tot.Open, tot.Total())
	}

	// A new process in the same slot keeps the counts, not the gauge.
	b.Close()
	b2 := openServe(t, dir, 2, 0)
	if b2.C.Requests[KindPage][1].Load() != 1 || b2.C.Open.Load() != 0 {
		t.Errorf("reopened counters: page 2xx %d (want 1 kept), open %d (want 0)", b2.C.Requests[KindPage][1].Load(), b2.C.Open.Load())
	}
}

func TestServeFileOfAnotherLayoutIsRefused(t *testing.T) {
	dir := t.TempDir()
	path := ServeFileName(dir, 1, 0)
	if err := os.WriteFile(path, []byte("not a counters file"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenServe(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("OpenServe of a 19-byte file: %v, want an error naming %s", err, path)
	}
	// Readers skip it rather than fail the whole report.
	tot, err := SumServe(dir)
	if err != nil || tot.Loops != 0 {
		t.Errorf("SumServe with a foreign file: %+v, %v; want it skipped", tot, err)
	}
}

func TestRecorderWritesTheEngineStatus(t *testing.T) {
	dir := t.TempDir()
	if st, err := ReadEngine(dir); st != nil || err != nil {
		t.Fatalf("ReadEngine before any Record = %v, %v; want nil, nil", st, err)
	}
	r, err := NewRecorder(dir)
	if err != nil {
		t.Fatal(err)
	}
	r.Journal = func() JournalStats { return JournalStats{BacklogBytes: 42} }
	t0 := time.UnixMilli(1_700_000_000_000).UTC()
	src := func(evals uint64, us int64, pub time.Time) []SourceStatus {
		return []SourceStatus{{SourceStatus: engine.SourceStatus{Name: "clock", Evaluations: evals, EvalMicros: us, LastPublish: pub}}}
	}
	if err := r.Record(t0, src(1, 80, t0)); err != nil { // bucket 0 (<= 100 µs)
		t.Fatal(err)
	}
	if err := r.Record(t0.Add(time.Second), src(4, 300, t0.Add(time.Second))); err != nil { // 3 more, all attributed 300 µs (<= 500)
		t.Fatal(err)
	}
	if err := r.Record(t0.Add(2*time.Second), src(4, 300, t0)); err != nil { // no new evaluation
		t.Fatal(err)
	}
	st, err := ReadEngine(dir)
	if err != nil || st == nil {
		t.Fatalf("ReadEngine: %v %v", st, err)
	}
	if st.Commits != 3 || st.PID != os.Getpid() || !st.Updated.Equal(t0.Add(2*time.Second)) || !st.LastPublish.Equal(t0.Add(time.Second)) {
		t.Errorf("engine status = %+v", st)
	}
	if st.Journal == nil || st.Journal.BacklogBytes != 42 {
		t.Errorf("journal = %+v, want backlog 42", st.Journal)
	}
	h := st.Sources[0].Hist
	want := make([]uint64, len(EvalBuckets)+1)
	want[0], want[2] = 1, 3
	if !slices.Equal(h.Counts, want) || h.SumMicros != 80+3*300 {
		t.Errorf("histogram = %+v, want counts %v and sum 980", h, want)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("files under the metrics folder: %v, want only %s (no temp file left)", ents, EngineFile)
	}

	if err := os.WriteFile(filepath.Join(dir, EngineFile), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadEngine(dir); err == nil || !strings.Contains(err.Error(), "engine status") {
		t.Errorf("a damaged status file: %v, want an error", err)
	}
}

// report builds a report with two sources, three processes and some
// serving counts.
func report(now time.Time) *Report {
	r := &Report{Now: now}
	r.Serve.Requests[KindSnapshot] = [5]uint64{0, 90, 10, 0, 0}
	r.Serve.Requests[KindPage] = [5]uint64{0, 20, 0, 0, 0}
	r.Serve.Requests[KindWrite] = [5]uint64{0, 5, 0, 1, 0}
	r.Serve.NotModified = 30
	r.Serve.Open = 3
	r.Serve.JournalFsyncNanos = 1_500_000_000
	hist := Hist{Counts: make([]uint64, len(EvalBuckets)+1), SumMicros: 2_000_000}
	hist.Counts[0], hist.Counts[len(EvalBuckets)] = 3, 1 // 3 fast, 1 over the last bound
	r.Engine = &EngineStatus{PID: 10, Started: now.Add(-time.Minute), Updated: now.Add(-2 * time.Second), Commits: 7,
		LastPublish: now.Add(-time.Second), Journal: &JournalStats{BacklogBytes: 512},
		Sources: []SourceStatus{
			{SourceStatus: engine.SourceStatus{Name: "clock", URL: "/clock.json", PeriodMs: 200, Evaluations: 4, LastPublish: now.Add(-time.Second), Size: 64}, Hist: hist},
			{SourceStatus: engine.SourceStatus{Name: "broken", URL: "/broken.json", PeriodMs: 1000, Errors: 2,
				LastError: &engine.Diagnostic{File: "sources/broken.js", Line: 3, Message: "<b>boom</b>"}}},
		}}
	r.Processes = []Process{
		{Role: "engine", Slot: 0, Position: -1, PID: 10, State: "ready", Restarts: 1},
		{Role: "worker", Slot: 2, Position: 1, PID: 12, State: "ready", Started: now.Add(-10 * time.Second), Requests: 70, Restarts: 2},
		{Role: "worker", Slot: 1, Position: 0, PID: 11, State: "ready", Started: now.Add(-20 * time.Second), Requests: 50},
		{Role: "worker", Slot: 3, Position: 1, PID: 9, State: "free", Restarts: 1}, // the crashed predecessor of pid 12
	}
	r.Supervisor = &Supervisor{PID: 1, Recycles: 4}
	return r
}

// parseProm parses Prometheus text with the reference parser, failing the
// test on any format error.
func parseProm(t *testing.T, body []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("not valid Prometheus text: %v\n%s", err, body)
	}
	return fams
}

// value returns the value of the sample of family name whose labels include
// every pair of want ("k", "v", ...), and whether there is one.
func value(fams map[string]*dto.MetricFamily, name string, want ...string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(want); i += 2 {
			if labels[want[i]] != want[i+1] {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func TestPrometheusTextIsValidAndCarriesTheReport(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000)
	body, err := report(now).Prometheus()
	if err != nil {
		t.Fatal(err)
	}
	fams := parseProm(t, body)
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"jawas_http_requests_total", []string{"kind", "snapshot", "class", "2xx"}, 90},
		{"jawas_http_requests_total", []string{"kind", "snapshot", "class", "3xx"}, 10},
		{"jawas_http_requests_total", []string{"kind", "write", "class", "4xx"}, 1},
		{"jawas_http_requests_total", []string{"kind", "admin", "class", "5xx"}, 0},
		{"jawas_http_not_modified_total", nil, 30},
		{"jawas_http_not_modified_ratio", nil, 30.0 / 120}, // over snapshot, page and site 2xx+3xx only
		{"jawas_http_connections_open", nil, 3},
		{"jawas_journal_fsync_seconds_total", nil, 1.5},
		{"jawas_journal_backlog_bytes", nil, 512},
		{"jawas_source_evaluations_total", []string{"source", "clock"}, 4},
		{"jawas_source_errors_total", []string{"source", "broken"}, 2},
		{"jawas_source_period_seconds", []string{"source", "clock"}, 0.2},
		{"jawas_source_snapshot_bytes", []string{"source", "clock"}, 64},
		{"jawas_source_last_publish_timestamp_seconds", []string{"source", "clock"}, float64(now.Add(-time.Second).UnixMilli()) / 1e3},
		{"jawas_source_evaluation_seconds", []string{"source", "clock"}, 4}, // sample count
		{"jawas_engine_commits_total", nil, 7},
		{"jawas_engine_status_age_seconds", nil, 2},
		// Restarts: the largest count per position over live and free
		// slots (position 1: 2), summed over positions (0 + 2).
		{"jawas_worker_restarts_total", nil, 2},
		{"jawas_engine_restarts_total", nil, 1},
		{"jawas_worker_recycles_total", nil, 4},
		{"jawas_processes", []string{"role", "worker", "state", "ready"}, 2},
		{"jawas_processes", []string{"role", "worker", "state", "free"}, 1},
		{"jawas_processes", []string{"role", "engine", "state", "ready"}, 1},
		{"jawas_worker_requests", []string{"position", "1", "pid", "12"}, 70},
		{"jawas_worker_uptime_seconds", []string{"position", "0", "pid", "11"}, 20},
	} {
		got, ok := value(fams, tc.name, tc.labels...)
		if !ok {
			t.Errorf("%s%v: missing", tc.name, tc.labels)
		} else if got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
	// A source that never published has no last-publish sample; a free
	// slot has no per-worker samples.
	if _, ok := value(fams, "jawas_source_last_publish_timestamp_seconds", "source", "broken"); ok {
		t.Error("a last-publish timestamp for a source that never published")
	}
	if _, ok := value(fams, "jawas_worker_requests", "pid", "9"); ok {
		t.Error("per-worker samples for a free slot")
	}

	// The histogram: cumulative buckets in seconds, +Inf holding the one
	// evaluation over the last bound.
	var h *dto.Histogram
	for _, m := range fams["jawas_source_evaluation_seconds"].Metric {
		if m.Label[0].GetValue() == "clock" {
			h = m.Histogram
		}
	}
	if h.GetSampleSum() != 2 {
		t.Errorf("histogram sum = %v s, want 2", h.GetSampleSum())
	}
	var bounds []float64
	for _, b := range h.Bucket {
		want := uint64(3)
		if math.IsInf(b.GetUpperBound(), 1) {
			want = 4
		} else {
			bounds = append(bounds, b.GetUpperBound())
		}
		if b.GetCumulativeCount() != want {
			t.Errorf("bucket le=%v holds %d, want %d (cumulative; one evaluation is over every bound)", b.GetUpperBound(), b.GetCumulativeCount(), want)
		}
	}
	if len(bounds) != len(EvalBuckets) || bounds[0] != 0.0001 || bounds[len(bounds)-1] != 1 {
		t.Errorf("bounds %v, want %d from 100 µs to 1 s", bounds, len(EvalBuckets))
	}

	// Without a process table (single-process serve) nor an engine status,
	// the text is still valid and says only what it knows.
	bare, err := (&Report{Now: now}).Prometheus()
	if err != nil {
		t.Fatal(err)
	}
	fams = parseProm(t, bare)
	if _, ok := fams["jawas_processes"]; ok {
		t.Error("process gauges without a process table")
	}
	if _, ok := fams["jawas_engine_commits_total"]; ok {
		t.Error("engine counters without an engine status")
	}
}

func TestHealth(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000)
	src := func(periodMs int64, published time.Time) SourceStatus {
		return SourceStatus{SourceStatus: engine.SourceStatus{Name: "s", PeriodMs: periodMs, LastPublish: published}}
	}
	for _, tc := range []struct {
		name   string
		engine *EngineStatus
		ok     bool
		why    string
	}{
		{"no engine", nil, false, "the engine has not published yet"},
		{"no sources", &EngineStatus{}, true, "no sources"},
		{"never published", &EngineStatus{Sources: []SourceStatus{src(200, time.Time{})}}, false, "no snapshot has been published yet"},
		// maxMissed 10 at 200 ms: up to 11 periods (2.2 s) is fresh.
		{"fresh", &EngineStatus{Sources: []SourceStatus{src(200, now.Add(-2200*time.Millisecond))}}, true, "publishing"},
		{"stale", &EngineStatus{Sources: []SourceStatus{src(200, now.Add(-2300*time.Millisecond))}}, false, "no snapshot published for 2.3s (more than 10 periods)"},
		{"one fresh of two", &EngineStatus{Sources: []SourceStatus{src(200, now.Add(-time.Hour)), src(60_000, now.Add(-time.Minute))}}, true, "publishing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, why := (&Report{Now: now, Engine: tc.engine}).Health(10)
			if ok != tc.ok || why != tc.why {
				t.Errorf("Health = %v %q, want %v %q", ok, why, tc.ok, tc.why)
			}
		})
	}
}

func TestStatusDocument(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000)
	doc := report(now).Status(10)
	var got struct {
		Healthy bool   `json:"healthy"`
		Health  string `json:"health"`
		Engine  struct {
			PID      int   `json:"pid"`
			Restarts int64 `json:"restarts"`
			Commits  int   `json:"commits"`
		} `json:"engine"`
		Sources []struct {
			Name      string `json:"name"`
			LastError *struct {
				File string `json:"file"`
				Line int    `json:"line"`
			} `json:"last_error"`
		} `json:"sources"`
		Workers []struct {
			Position int     `json:"position"`
			PID      int     `json:"pid"`
			State    string  `json:"state"`
			Uptime   float64 `json:"uptime_s"`
		} `json:"workers"`
		Supervisor struct{ Recycles int } `json:"supervisor"`
		Requests   int                    `json:"requests"`
		Open       int                    `json:"open_connections"`
	}
	if err := json.Unmarshal(doc.JSON(), &got); err != nil {
		t.Fatalf("status JSON: %v\n%s", err, doc.JSON())
	}
	if !got.Healthy || got.Health != "publishing" || got.Engine.PID != 10 || got.Engine.Restarts != 1 || got.Engine.Commits != 7 {
		t.Errorf("status = %+v", got)
	}
	if got.Requests != 126 || got.Open != 3 || got.Supervisor.Recycles != 4 {
		t.Errorf("requests %d (want 126), open %d (want 3), recycles %d (want 4)", got.Requests, got.Open, got.Supervisor.Recycles)
	}
	// Live workers only, by position.
	if len(got.Workers) != 2 || got.Workers[0].PID != 11 || got.Workers[1].PID != 12 || got.Workers[0].Uptime != 20 {
		t.Errorf("workers = %+v, want pids 11 then 12 (free slot left out), uptime 20 s", got.Workers)
	}
	if len(got.Sources) != 2 || got.Sources[1].LastError == nil || got.Sources[1].LastError.File != "sources/broken.js" || got.Sources[1].LastError.Line != 3 {
		t.Errorf("sources = %+v, want broken's error at sources/broken.js:3", got.Sources)
	}

	// The HTML page escapes what authors wrote (an error message).
	page := string(doc.HTML())
	if strings.Contains(page, "<b>boom</b>") || !strings.Contains(page, "&lt;b&gt;boom&lt;/b&gt;") {
		t.Errorf("the error message is not escaped in the status page")
	}
	if !strings.Contains(page, "healthy") || !strings.Contains(page, `href="/clock.json"`) {
		t.Errorf("status page lacks the verdict or the source link:\n%s", page)
	}

	// Without an engine: an empty but valid document, unhealthy.
	empty := (&Report{Now: now}).Status(10)
	if err := json.Unmarshal(empty.JSON(), &got); err != nil || got.Healthy {
		t.Errorf("status without an engine: %v healthy=%v", err, got.Healthy)
	}
	if !bytes.Contains(empty.JSON(), []byte(`"sources": []`)) || !bytes.Contains(empty.JSON(), []byte(`"workers": []`)) {
		t.Errorf("sources and workers must be empty arrays, not null:\n%s", empty.JSON())
	}
}

func TestGatherReadsTheFolder(t *testing.T) {
	dir := t.TempDir()
	sf := openServe(t, dir, 1, 0)
	sf.C.Count(KindSnapshot, 200)
	r, err := Gather(dir, time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Engine != nil || r.Processes != nil || r.Serve.Total() != 1 {
		t.Errorf("report = %+v", r)
	}
	rec, err := NewRecorder(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := rec.Record(time.Now(), nil); err != nil {
		t.Fatal(err)
	}
	r, err = Gather(dir, time.Now(), func() ([]Process, *Supervisor) {
		return []Process{{Role: "worker", State: "ready"}}, &Supervisor{PID: 1}
	})
	if err != nil || r.Engine == nil || len(r.Processes) != 1 || r.Supervisor == nil {
		t.Errorf("report with an engine and a table: %+v %v", r, err)
	}
}

// TestRecorderRefresh: with Refresh set, commits that only move counters
// are written at most every Refresh (and every HealthMaxMissed/2 periods
// of the fastest source); a failure is written at once.
func TestRecorderRefresh(t *testing.T) {
	dir := t.TempDir()
	r, err := NewRecorder(dir)
	if err != nil {
		t.Fatal(err)
	}
	r.Refresh, r.HealthMaxMissed = time.Second, 10
	t0 := time.UnixMilli(1_700_000_000_000).UTC()
	src := func(evals, errs uint64) []SourceStatus {
		return []SourceStatus{{SourceStatus: engine.SourceStatus{Name: "clock", PeriodMs: 200, Evaluations: evals, Errors: errs}}}
	}
	commits := func() uint64 {
		t.Helper()
		st, err := ReadEngine(dir)
		if err != nil || st == nil {
			t.Fatalf("ReadEngine: %v %v", st, err)
		}
		return st.Commits
	}
	step := 200 * time.Millisecond
	for i := range 5 { // 0, 200, ..., 800 ms: only the first is written
		if err := r.Record(t0.Add(time.Duration(i)*step), src(uint64(i+1), 0)); err != nil {
			t.Fatal(err)
		}
	}
	if n := commits(); n != 1 {
		t.Errorf("after 5 commits within Refresh the file holds commit %d, want 1", n)
	}
	if err := r.Record(t0.Add(time.Second), src(6, 0)); err != nil { // Refresh reached
		t.Fatal(err)
	}
	if n := commits(); n != 6 {
		t.Errorf("after Refresh the file holds commit %d, want 6", n)
	}
	if err := r.Record(t0.Add(time.Second+step), src(7, 1)); err != nil { // a failure
		t.Fatal(err)
	}
	if n := commits(); n != 7 {
		t.Errorf("a failure was not written at once: the file holds commit %d, want 7", n)
	}
	// health_max_missed = 2 with a 200 ms period: every 200 ms at least.
	r.HealthMaxMissed = 2
	if err := r.Record(t0.Add(time.Second+2*step), src(8, 1)); err != nil {
		t.Fatal(err)
	}
	if n := commits(); n != 8 {
		t.Errorf("HealthMaxMissed 2 x 200 ms: the file holds commit %d, want 8", n)
	}
}
