// Package writes owns the write path end to end: in a worker, the Acceptor
// that checks a POST/PUT (route, token, rate, pending cap, body syntax),
// appends it to the worker's journal and answers 202 once a group commit
// made it durable; in the engine, the Applier that at each boundary reads the
// new journal records, applies them through the sources' reducers in a
// deterministic order, records each event's fate, checkpoints source state
// with the journal positions it reflects, and deletes what checkpoints cover.
//
// It must never answer 202 before the record is committed, never apply an
// event twice or skip one (state, positions and not-yet-applied records are
// checkpointed together), never block a worker's event loop (the disk work
// runs on the committer goroutine), and never keep going past a damaged
// journal: that stops the engine with the file and offset.
//
// Workers learn which URLs take which methods from RoutesURL, a small JSON
// document the engine publishes through the snapshot store like any
// snapshot.
package writes

import (
	"encoding/json"
	"fmt"
	"maps"
	"mime"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jawas/jawas/engine/internal/journal"
	"github.com/jawas/jawas/engine/internal/jsvm"
	"github.com/jawas/jawas/engine/internal/period"
)

// RoutesURL is where the engine publishes the write routes.
const RoutesURL = "/_jawas/writes.json"

// Route says what a published URL accepts.
type Route struct {
	Source   string   `json:"source"`
	Methods  []string `json:"methods"` // "POST", "PUT"
	PeriodMs int64    `json:"period_ms"`
}

// Routes is the document at RoutesURL: URL → route, for the sources that
// export at least one reducer.
type Routes struct {
	Routes map[string]Route `json:"routes"`
}

// RoutesOf returns the routes document of proj's sources.
func RoutesOf(proj *period.Project) []byte {
	rs := Routes{Routes: map[string]Route{}}
	for _, s := range proj.Sources {
		var methods []string
		for _, m := range []string{"POST", "PUT"} {
			if s.Module().HasReducer(m) {
				methods = append(methods, m)
			}
		}
		if len(methods) > 0 {
			rs.Routes[s.URL] = Route{Source: s.Name, Methods: methods, PeriodMs: s.Period.Milliseconds()}
		}
	}
	b, _ := json.Marshal(rs) // maps of strings and ints always encode
	return b
}

// Body kinds a write may carry, by media type.
const (
	typeJSON = "application/json"
	typeForm = "application/x-www-form-urlencoded"
	typeText = "text/plain"
)

// mediaType returns the normalised media type of a Content-Type value
// ("application/json" for an absent one), and whether jawas accepts it.
func mediaType(ct string) (string, bool) {
	if strings.TrimSpace(ct) == "" {
		return typeJSON, true
	}
	if strings.EqualFold(ct, typeJSON) { // the common case, without ParseMediaType's map
		return typeJSON, true
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return "", false
	}
	switch {
	case mt == typeJSON || strings.HasSuffix(mt, "+json"):
		return typeJSON, true
	case mt == typeForm:
		return typeForm, true
	case mt == typeText:
		if cs := params["charset"]; cs != "" && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "us-ascii") {
			return "", false
		}
		return typeText, true
	}
	return "", false
}

// checkBody validates a body of media type mt; the error is for the client
// (with the byte offset of a JSON syntax error).
func checkBody(mt string, body []byte) error {
	switch mt {
	case typeJSON:
		if len(body) == 0 {
			at := int64(0)
			return &bodyError{Msg: "invalid JSON: the body is empty (a write without a body sends no Content-Type)", Offset: &at}
		}
		if json.Valid(body) {
			return nil
		}
		var v any
		err := json.Unmarshal(body, &v)
		if se, ok := err.(*json.SyntaxError); ok {
			// encoding/json counts the bytes read up to the error; clients
			// get the 0-based index of the offending byte (the body's length
			// when it ended too soon).
			at := se.Offset - 1
			if strings.Contains(se.Error(), "unexpected end") {
				at = se.Offset
			}
			return &bodyError{Msg: "invalid JSON: " + se.Error(), Offset: &at}
		}
		return &bodyError{Msg: fmt.Sprintf("invalid JSON: %v", err)}
	case typeForm:
		if _, err := url.ParseQuery(string(body)); err != nil {
			return &bodyError{Msg: "invalid form body: " + err.Error()}
		}
	case typeText:
		if !utf8.Valid(body) {
			return &bodyError{Msg: "text body is not valid UTF-8"}
		}
	}
	return nil
}

// bodyError is a body the client must fix; Offset (the 0-based index of
// the first byte that is not valid JSON) is nil when it does not apply.
type bodyError struct {
	Msg    string `json:"error"`
	Offset *int64 `json:"offset,omitempty"`
}

func (e *bodyError) Error() string { return e.Msg }

// decodeBody turns a record's body into what a reducer sees: JSON as is, a
// form as an object (a repeated field as an array; an empty form is {}),
// text as a string (maybe ""), and a bodiless write (no body, no
// Content-Type, recorded as an empty JSON body) as null.
func decodeBody(ct string, body []byte) (any, error) {
	switch ct {
	case typeForm:
		q, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, fmt.Errorf("decode form body: %w", err)
		}
		obj := make(map[string]any, len(q))
		for _, k := range slices.Sorted(maps.Keys(q)) {
			if vs := q[k]; len(vs) == 1 {
				obj[k] = vs[0]
			} else {
				arr := make([]any, len(vs))
				for i, v := range vs {
					arr[i] = v
				}
				obj[k] = arr
			}
		}
		return obj, nil
	case typeText:
		return string(body), nil
	default:
		if len(body) == 0 {
			return nil, nil
		}
		if !json.Valid(body) {
			return nil, fmt.Errorf("decode JSON body: invalid JSON")
		}
		return json.RawMessage(body), nil
	}
}

// eventOf is the reducer's view of a record.
func eventOf(r *journal.Record) (jsvm.Event, error) {
	body, err := decodeBody(r.ContentType, r.Body)
	if err != nil {
		return jsvm.Event{}, err
	}
	// No headers stay nil: jsvm gives the reducer an empty headers object
	// for nil as for empty, and an empty map per event was an allocation
	// per write.
	arrived := r.Arrived
	if arrived.IsZero() {
		arrived = r.Time
	}
	return jsvm.Event{ID: r.ID, Method: r.Method, Time: arrived, Committed: r.Time, Body: body, Headers: r.Headers}, nil
}

// markRead tells events the highest sequence read per incarnation. The
// records of a few incarnations (one per worker) come interleaved by time,
// so the maxima are gathered in a short slice first.
func markRead(events *journal.StatusTable, recs []journal.Record) {
	type mark struct {
		inc string
		top uint64
	}
	var marks []mark
next:
	for i := range recs {
		r := &recs[i]
		for j := range marks {
			if strings.HasPrefix(r.ID, marks[j].inc) {
				marks[j].top = max(marks[j].top, r.Seq)
				continue next
			}
		}
		if inc, _, ok := journal.ParseID(r.ID); ok {
			marks = append(marks, mark{inc, r.Seq})
		}
	}
	for _, m := range marks {
		events.MarkRead(m.inc, m.top)
	}
}

// retryAfter is the Retry-After value for d, in whole seconds, at least 1.
func retryAfter(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return fmt.Sprint(s)
}
