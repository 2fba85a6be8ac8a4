package metrics

// This file implements the report behind the admin endpoints: one read of
// every counters file, the engine status file and the process table, then
// three renderings (Prometheus text, status JSON, status HTML) and the
// health verdict. It runs on an admin request, so it may allocate.

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// Process is one slot of the supervisor's process table (the engine or a
// worker), as the status page shows it.
type Process struct {
	Role     string    `json:"role"` // "engine" or "worker"
	Slot     int       `json:"slot"`
	Position int       `json:"position"` // worker position; -1 for the engine
	PID      int       `json:"pid"`
	State    string    `json:"state"` // "free" once the process has exited
	Started  time.Time `json:"started"`
	LastBeat time.Time `json:"last_beat"`
	Requests int64     `json:"requests"`
	Restarts int64     `json:"restarts"` // crash restarts of this position so far
}

// Supervisor is what the supervisor counts besides the process table.
type Supervisor struct {
	PID      int   `json:"pid"`
	Recycles int64 `json:"recycles"` // workers replaced after max_requests
}

// Report is everything the admin endpoints show, read at one instant.
type Report struct {
	Now        time.Time     `json:"now"`
	Serve      ServeTotals   `json:"-"`
	Engine     *EngineStatus `json:"-"`
	Processes  []Process     `json:"-"`
	Supervisor *Supervisor   `json:"-"`
	// Cluster is the node's cluster status (cluster mode), as its node
	// process wrote it to ClusterFile.
	Cluster json.RawMessage `json:"-"`
}

// ClusterFile is the cluster status file's name under the metrics folder
// (engine/internal/cluster writes it).
const ClusterFile = "cluster.json"

// Gather reads the counters files and the engine status under dir (the
// metrics folder) and adds the process table from procs (may be nil, e.g.
// in a single-process server).
func Gather(dir string, now time.Time, procs func() ([]Process, *Supervisor)) (*Report, error) {
	r := &Report{Now: now}
	var err error
	if r.Serve, err = SumServe(dir); err != nil {
		return nil, err
	}
	if r.Engine, err = ReadEngine(dir); err != nil {
		return nil, err
	}
	if b, err := os.ReadFile(filepath.Join(dir, ClusterFile)); err == nil && json.Valid(b) {
		r.Cluster = b
	}
	if procs != nil {
		r.Processes, r.Supervisor = procs()
	}
	return r, nil
}

// Health says whether this server is fit for traffic: 200 while at least
// one source published within maxMissed of its periods, 503 when none did
// (the engine is down, stuck, or every source fails) or the engine has not
// published yet. A project without sources is healthy once the engine ran.
func (r *Report) Health(maxMissed int) (ok bool, why string) {
	e := r.Engine
	if e == nil {
		return false, "the engine has not published yet"
	}
	if len(e.Sources) == 0 {
		return true, "no sources"
	}
	var newest time.Time
	for _, s := range e.Sources {
		p := time.Duration(max(s.PeriodMs, 1)) * time.Millisecond
		if !s.LastPublish.IsZero() && r.Now.Sub(s.LastPublish) <= time.Duration(maxMissed)*p+p {
			return true, "publishing"
		}
		if s.LastPublish.After(newest) {
			newest = s.LastPublish
		}
	}
	if newest.IsZero() {
		return false, "no snapshot has been published yet"
	}
	return false, fmt.Sprintf("no snapshot published for %s (more than %d periods)", r.Now.Sub(newest).Round(time.Millisecond), maxMissed)
}

// restarts returns the crash restarts of workers and of the engine: the
// largest count seen per position over every slot, live or free, so the
// sum never goes backwards while a position waits out a backoff.
func (r *Report) restarts() (workers, engine int64) {
	byPos := map[int]int64{}
	for _, p := range r.Processes {
		if p.Role == "engine" {
			engine = max(engine, p.Restarts)
			continue
		}
		byPos[p.Position] = max(byPos[p.Position], p.Restarts)
	}
	for _, n := range byPos {
		workers += n
	}
	return workers, engine
}

// Prometheus renders the report in the Prometheus text exposition format.
func (r *Report) Prometheus() ([]byte, error) {
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(collector{r}); err != nil {
		return nil, fmt.Errorf("metrics: register: %w", err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		return nil, fmt.Errorf("metrics: gather: %w", err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return nil, fmt.Errorf("metrics: encode: %w", err)
		}
	}
	return buf.Bytes(), nil
}

// PrometheusContentType is the Content-Type of Prometheus().
const PrometheusContentType = "text/plain; version=0.0.4; charset=utf-8"

var classNames = [5]string{"1xx", "2xx", "3xx", "4xx", "5xx"}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("jawas_"+name, help, labels, nil)
}

var (
	dRequests     = desc("http_requests_total", "Requests answered, by route kind and status class.", "kind", "class")
	dNotModified  = desc("http_not_modified_total", "304 Not Modified answers.")
	dNMRatio      = desc("http_not_modified_ratio", "304 answers over all snapshot, page and site answers since start.")
	dBytes        = desc("http_response_bytes_total", "Bytes written to client sockets.")
	dOpen         = desc("http_connections_open", "Client connections open now, over all live workers.")
	dAccepted     = desc("http_connections_accepted_total", "Client connections accepted.")
	dRejected     = desc("http_connections_rejected_total", "Client connections refused with 503 over serve.max_conns.")
	dDenied       = desc("admin_denied_total", "Admin requests refused (client network not allowed and no valid token).")
	dProxyRefused = desc("proxy_protocol_refused_total", "Connections from trusted proxies closed for a malformed or missing PROXY protocol header.")
	dLogLines     = desc("access_log_lines_total", "Access log lines written.")
	dLogDropped   = desc("access_log_dropped_total", "Access log lines dropped (buffer full or write error).")
	dEval         = desc("source_evaluation_seconds", "Time to evaluate (render) a source.", "source")
	dEvals        = desc("source_evaluations_total", "Evaluations of a source.", "source")
	dErrors       = desc("source_errors_total", "Failed evaluations of a source (thrown, not JSON, too big, over budget).", "source")
	dSkipped      = desc("source_skipped_periods_total", "Periods a source was not evaluated at (late: the previous evaluation was still running, or the engine fell behind).", "source")
	dVersions     = desc("source_versions_total", "New snapshot versions published (changed content) for a source.", "source")
	dSize         = desc("source_snapshot_bytes", "Size of a source's current snapshot.", "source")
	dPeriod       = desc("source_period_seconds", "A source's period.", "source")
	dLastPublish  = desc("source_last_publish_timestamp_seconds", "When a source last published (Unix time).", "source")
	dCommits      = desc("engine_commits_total", "Snapshot manifest commits by the current engine process.")
	dEngineUp     = desc("engine_status_age_seconds", "Age of the engine's last status update.")
	dJBacklogB    = desc("journal_backlog_bytes", "Bytes of writes not yet applied.")
	dJCommits     = desc("journal_commits_total", "Group commits of accepted writes, summed over workers.")
	dJFsync       = desc("journal_fsyncs_total", "Journal fdatasyncs, summed over workers (0 with serve.durability = \"none\").")
	dJFsyncS      = desc("journal_fsync_seconds_total", "Time spent in journal fdatasyncs, summed over workers; divide by journal_fsyncs_total for the mean fsync latency.")
	dWRestarts    = desc("worker_restarts_total", "Worker processes restarted after a crash or a stall.")
	dERestarts    = desc("engine_restarts_total", "Engine processes restarted after they died.")
	dRecycles     = desc("worker_recycles_total", "Workers replaced after serve.max_requests.")
	dProcs        = desc("processes", "Processes in the table, by role and state.", "role", "state")
	dWorkerReqs   = desc("worker_requests", "Requests served by a live worker process.", "position", "pid")
	dWorkerUptime = desc("worker_uptime_seconds", "Uptime of a live worker process.", "position", "pid")
)

// collector turns a Report into Prometheus metrics.
type collector struct{ r *Report }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dRequests, dNotModified, dNMRatio, dBytes, dOpen, dAccepted, dRejected,
		dDenied, dProxyRefused, dLogLines, dLogDropped, dEval, dEvals, dErrors, dSkipped, dVersions, dSize, dPeriod, dLastPublish,
		dCommits, dEngineUp, dJBacklogB, dJCommits, dJFsync, dJFsyncS, dWRestarts, dERestarts, dRecycles, dProcs,
		dWorkerReqs, dWorkerUptime} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	r := c.r
	s := &r.Serve
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for k := Kind(0); k < NumKinds; k++ {
		for cl, v := range s.Requests[k] {
			counter(dRequests, float64(v), k.String(), classNames[cl])
		}
	}
	counter(dNotModified, float64(s.NotModified))
	var reads uint64
	for _, k := range []Kind{KindSnapshot, KindPage, KindSite} {
		reads += s.Requests[k][1] + s.Requests[k][2]
	}
	ratio := 0.0
	if reads > 0 {
		ratio = float64(s.NotModified) / float64(reads)
	}
	gauge(dNMRatio, ratio)
	counter(dBytes, float64(s.BytesOut))
	gauge(dOpen, float64(s.Open))
	counter(dAccepted, float64(s.Accepted))
	counter(dRejected, float64(s.Rejected))
	counter(dJCommits, float64(s.JournalCommits))
	counter(dJFsync, float64(s.JournalFsyncs))
	counter(dJFsyncS, float64(s.JournalFsyncNanos)/1e9)
	counter(dDenied, float64(s.AdminDenied))
	counter(dProxyRefused, float64(s.ProxyRefused))
	counter(dLogLines, float64(s.LogLines))
	counter(dLogDropped, float64(s.LogDropped))

	if e := r.Engine; e != nil {
		for _, src := range e.Sources {
			buckets := map[float64]uint64{}
			var cum uint64
			for i, b := range EvalBuckets {
				if i < len(src.Hist.Counts) {
					cum += src.Hist.Counts[i]
				}
				buckets[float64(b)/1e6] = cum
			}
			if n := len(src.Hist.Counts); n > 0 {
				cum += src.Hist.Counts[n-1]
			}
			ch <- prometheus.MustNewConstHistogram(dEval, cum, float64(src.Hist.SumMicros)/1e6, buckets, src.Name)
			counter(dEvals, float64(src.Evaluations), src.Name)
			counter(dErrors, float64(src.Errors), src.Name)
			counter(dSkipped, float64(src.Skipped), src.Name)
			counter(dVersions, float64(src.Versions), src.Name)
			gauge(dSize, float64(src.Size), src.Name)
			gauge(dPeriod, float64(src.PeriodMs)/1e3, src.Name)
			if !src.LastPublish.IsZero() {
				gauge(dLastPublish, float64(src.LastPublish.UnixMilli())/1e3, src.Name)
			}
		}
		counter(dCommits, float64(e.Commits))
		gauge(dEngineUp, r.Now.Sub(e.Updated).Seconds())
		if j := e.Journal; j != nil {
			gauge(dJBacklogB, float64(j.BacklogBytes))
		}
	}
	if r.Processes != nil {
		w, e := r.restarts()
		counter(dWRestarts, float64(w))
		counter(dERestarts, float64(e))
		states := map[[2]string]int{}
		for _, p := range r.Processes {
			states[[2]string{p.Role, p.State}]++
			if p.Role == "worker" && p.State != "free" {
				pos, pid := strconv.Itoa(p.Position), strconv.Itoa(p.PID)
				gauge(dWorkerReqs, float64(p.Requests), pos, pid)
				gauge(dWorkerUptime, r.Now.Sub(p.Started).Seconds(), pos, pid)
			}
		}
		for k, n := range states {
			gauge(dProcs, float64(n), k[0], k[1])
		}
	}
	if r.Supervisor != nil {
		counter(dRecycles, float64(r.Supervisor.Recycles))
	}
}

// StatusDoc is the JSON document of /_jawas/status.
type StatusDoc struct {
	Now        time.Time      `json:"now"`
	Healthy    bool           `json:"healthy"`
	Health     string         `json:"health"`
	Engine     *EngineSummary `json:"engine"`
	Sources    []SourceStatus `json:"sources"`
	Workers    []ProcessDoc   `json:"workers"`
	Supervisor *Supervisor    `json:"supervisor,omitempty"`
	Requests   uint64         `json:"requests"`
	Open       int64          `json:"open_connections"`
	// Cluster is the cluster section (cluster mode only): this node, the
	// leader, the lease's age, the newest head, every node's lag.
	Cluster json.RawMessage `json:"cluster,omitempty"`
}

// EngineSummary is the engine part of StatusDoc.
type EngineSummary struct {
	PID         int       `json:"pid"`
	Started     time.Time `json:"started"`
	Updated     time.Time `json:"updated"`
	LastPublish time.Time `json:"last_publish"`
	Restarts    int64     `json:"restarts"`
	Commits     uint64    `json:"commits"`
}

// ProcessDoc is a live process in StatusDoc.
type ProcessDoc struct {
	Process
	UptimeSeconds float64 `json:"uptime_s"`
}

// Status builds the status document (maxMissed as for Health).
func (r *Report) Status(maxMissed int) *StatusDoc {
	d := &StatusDoc{Now: r.Now, Supervisor: r.Supervisor, Requests: r.Serve.Total(), Open: r.Serve.Open,
		Sources: []SourceStatus{}, Workers: []ProcessDoc{}, Cluster: r.Cluster}
	d.Healthy, d.Health = r.Health(maxMissed)
	_, engRestarts := r.restarts()
	if e := r.Engine; e != nil {
		d.Engine = &EngineSummary{PID: e.PID, Started: e.Started, Updated: e.Updated, LastPublish: e.LastPublish,
			Restarts: engRestarts, Commits: e.Commits}
		d.Sources = e.Sources
	}
	for _, p := range r.Processes {
		if p.Role != "worker" || p.State == "free" {
			continue
		}
		d.Workers = append(d.Workers, ProcessDoc{Process: p, UptimeSeconds: r.Now.Sub(p.Started).Seconds()})
	}
	slices.SortFunc(d.Workers, func(a, b ProcessDoc) int { return cmp.Compare(a.Position, b.Position) })
	return d
}

// JSON renders the status document.
func (d *StatusDoc) JSON() []byte {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil { // only plain data: cannot happen
		return []byte(`{"error":` + strconv.Quote(err.Error()) + `}`)
	}
	return append(b, '\n')
}

// HTML renders the status document as a small page.
func (d *StatusDoc) HTML() []byte {
	var buf bytes.Buffer
	if err := statusPage.Execute(&buf, d); err != nil {
		buf.Reset()
		buf.WriteString("<!doctype html><p>status page failed: " + template.HTMLEscapeString(err.Error()))
	}
	return buf.Bytes()
}

var statusPage = template.Must(template.New("status").Funcs(template.FuncMap{
	"ago": func(now, t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return now.Sub(t).Round(time.Millisecond).String() + " ago"
	},
	"dur": func(s float64) string { return time.Duration(s * float64(time.Second)).Round(time.Second).String() },
}).Parse(`<!doctype html>
<meta charset=utf-8>
<title>jawas status</title>
<style>body{font:14px system-ui,sans-serif;margin:1.5em}table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}.bad{color:#b00}.ok{color:#070}pre{margin:0}</style>
<h1>jawas status</h1>
<p class="{{if .Healthy}}ok{{else}}bad{{end}}">{{if .Healthy}}healthy{{else}}UNHEALTHY{{end}}: {{.Health}}.
{{.Requests}} requests answered, {{.Open}} connections open. <a href="/_jawas/status.json">JSON</a> · <a href="/_jawas/metrics">metrics</a></p>
<h2>Sources</h2>
<table><tr><th>source</th><th>period</th><th>last publish</th><th>versions</th><th>size</th><th>eval</th><th>evaluations</th><th>errors</th><th>skipped</th><th>last error</th></tr>
{{range .Sources}}<tr><td><a href="{{.URL}}">{{.Name}}</a></td><td>{{.PeriodMs}} ms</td><td>{{ago $.Now .LastPublish}}</td><td>{{.Versions}}</td><td>{{.Size}} B</td><td>{{.EvalMicros}} µs</td><td>{{.Evaluations}}</td><td>{{.Errors}}</td><td>{{.Skipped}}</td>
<td>{{with .LastError}}<span class=bad>{{.Error}}</span>{{if .Frame}}<pre>{{.Frame}}</pre>{{end}}{{end}}</td></tr>
{{end}}</table>
<h2>Engine</h2>
{{with .Engine}}<p>pid {{.PID}}, started {{ago $.Now .Started}}, last update {{ago $.Now .Updated}}, {{.Commits}} commits, {{.Restarts}} restarts.</p>{{else}}<p class=bad>no engine status yet</p>{{end}}
<h2>Workers</h2>
<table><tr><th>worker</th><th>pid</th><th>state</th><th>uptime</th><th>requests</th><th>restarts</th><th>last beat</th></tr>
{{range .Workers}}<tr><td>{{.Position}}</td><td>{{.PID}}</td><td>{{.State}}</td><td>{{dur .UptimeSeconds}}</td><td>{{.Requests}}</td><td>{{.Restarts}}</td><td>{{ago $.Now .LastBeat}}</td></tr>
{{end}}</table>
{{with .Cluster}}<h2>Cluster</h2>
<pre>{{printf "%s" .}}</pre>{{end}}
{{with .Supervisor}}<p>supervisor pid {{.PID}}, {{.Recycles}} recycles.</p>{{end}}
`))
