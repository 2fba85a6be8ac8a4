package jsvm

// This file implements the "jawas" module a source imports
// (`import { readFile, readJSON, env, db } from "jawas"`): the bundler
// resolves it to a stub reading globalThis[Symbol.for("jawas.host")]
// (engine/bundle), and this file puts that object there. Everything a
// source may reach outside its runtime goes through Host, so a source
// reaches nothing its project did not configure.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/big"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dop251/goja"

	"github.com/jawas/jawas/engine/internal/fetch"
)

// HostSymbol is the key (Symbol.for) of the "jawas" module's host object.
const HostSymbol = "jawas.host"

// Host is what a source may reach outside its runtime. Any field may be
// zero: fetch then uses a default client (any host, default caps), files
// and databases reject with an error saying what to configure, env
// refuses every name.
type Host struct {
	Fetch    *fetch.Client // fetch(); one per source (its cache and concurrency cap)
	Files    *Files        // readFile, readJSON; may be shared by a project's sources
	EnvAllow []string      // env(NAME) returns the variable only for these names
	DB       DB            // db(name).query(); shared by a project's sources
}

// DB runs SQL for sources: db(name).query(text, params) calls Query.
//
// Threading: Query is called on a goroutine of its own, never the
// runtime's, possibly for several sources at once. ctx is cancelled when
// the render's budget runs out or the render ends; a query must stop then.
type DB interface {
	// Query runs text with params bound (never interpolated) on the
	// database configured as [db.NAME] and returns its rows. readOnly asks
	// for a read-only transaction (always true for renders today).
	// An unknown name is an error that names it.
	Query(ctx context.Context, name, text string, params []any, readOnly bool) (Rows, error)
}

// Rows is a query's result: the column names in the query's order, and one
// slice of values per row, in the same order. Values are what the SQL layer
// maps them to: nil, bool, int64, float64, string, time.Time, []byte,
// json.RawMessage, or []any/map[string]any (converted through JSON).
type Rows struct {
	Columns []string
	Values  [][]any
}

// MapRows builds Rows from rows as maps, columns sorted by name (a map has
// no order), for a DB whose driver gives maps.
func MapRows(rows []map[string]any) Rows {
	var r Rows
	if len(rows) == 0 {
		return r
	}
	for k := range rows[0] {
		r.Columns = append(r.Columns, k)
	}
	slices.Sort(r.Columns)
	for _, row := range rows {
		vs := make([]any, len(r.Columns))
		for i, c := range r.Columns {
			vs[i] = row[c]
		}
		r.Values = append(r.Values, vs)
	}
	return r
}

// Files reads project files for readFile/readJSON: paths are relative to
// the project directory and may not leave it (no "..", no absolute path,
// no symbolic link pointing out). Contents are cached by modification time
// and size.
//
// Threading: safe for concurrent use.
type Files struct {
	dir string

	mu    sync.Mutex
	cache map[string]fileEntry
}

type fileEntry struct {
	mod  time.Time
	size int64
	data []byte
}

// maxFileCache bounds the bytes Files keeps; past it, files are read anew.
const maxFileCache = 64 << 20

// NewFiles returns a Files over the project directory dir.
func NewFiles(dir string) *Files { return &Files{dir: dir, cache: map[string]fileEntry{}} }

// Read returns the content of the project file p (slash-separated,
// relative to the project).
func (f *Files) Read(p string) ([]byte, error) {
	clean := path.Clean(strings.ReplaceAll(p, "\\", "/"))
	if p == "" || path.IsAbs(clean) || filepath.IsAbs(p) || clean == ".." || strings.HasPrefix(clean, "../") {
		return nil, fmt.Errorf("%s is outside the project: paths are relative to the project directory and stay in it", quoteJS(p))
	}
	root, err := os.OpenRoot(f.dir)
	if err != nil {
		return nil, fmt.Errorf("open the project directory: %w", err)
	}
	defer root.Close()
	name := filepath.FromSlash(clean)
	st, err := root.Stat(name)
	if err != nil {
		return nil, fileError(p, err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s is a directory, not a file", quoteJS(p))
	}
	f.mu.Lock()
	e, ok := f.cache[clean]
	f.mu.Unlock()
	if ok && e.mod.Equal(st.ModTime()) && e.size == st.Size() {
		return e.data, nil
	}
	data, err := root.ReadFile(name)
	if err != nil {
		return nil, fileError(p, err)
	}
	f.mu.Lock()
	total := int64(0)
	for k, e := range f.cache {
		if k != clean {
			total += e.size
		}
	}
	if total+int64(len(data)) <= maxFileCache {
		f.cache[clean] = fileEntry{mod: st.ModTime(), size: int64(len(data)), data: data}
	}
	f.mu.Unlock()
	return data, nil
}

func fileError(p string, err error) error {
	var pe *fs.PathError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s does not exist (paths are relative to the project directory)", quoteJS(p))
	case errors.As(err, &pe) && strings.Contains(pe.Err.Error(), "escapes"):
		return fmt.Errorf("%s is outside the project: a symbolic link on its path points out of the project directory", quoteJS(p))
	case errors.As(err, &pe):
		return fmt.Errorf("%s: %v", quoteJS(p), pe.Err)
	}
	return err
}

// client is the fetch client of this module: the Host's, or a default one.
func (m *Module) client() *fetch.Client {
	if m.opt.Host.Fetch != nil {
		return m.opt.Host.Fetch
	}
	if m.fetch == nil {
		m.fetch, _ = fetch.New(fetch.Options{})
	}
	return m.fetch
}

// installJawas puts the "jawas" module's host object on rt.
func (m *Module) installJawas(rt *runtime) error {
	vm, l := rt.vm, rt.loop
	h := vm.NewObject()
	host := m.opt.Host
	_ = h.Set("readFile", func(p string) goja.Value {
		what := "readFile(" + quoteJS(p) + ")"
		return l.async(what, func(context.Context) hostResult {
			data, err := m.readFile(p)
			return func() (goja.Value, error) {
				if err != nil {
					return nil, err
				}
				return utf8Decode(vm, data, false, true), nil
			}
		})
	})
	_ = h.Set("readJSON", func(p string) goja.Value {
		what := "readJSON(" + quoteJS(p) + ")"
		return l.async(what, func(context.Context) hostResult {
			data, err := m.readFile(p)
			return func() (goja.Value, error) {
				if err != nil {
					return nil, err
				}
				v, err := rt.parseJSON(goja.Undefined(), utf8Decode(vm, data, false, true))
				if err != nil {
					var ex *goja.Exception
					if errors.As(err, &ex) {
						return nil, fmt.Errorf("%s is not JSON: %s", quoteJS(p), ex.Value().String())
					}
					return nil, err
				}
				return v, nil
			}
		})
	})
	_ = h.Set("env", func(name string) goja.Value {
		if !slices.Contains(host.EnvAllow, name) {
			panic(vm.NewTypeError(fmt.Sprintf("env(%s): the variable is not listed in env.allow; add it in jawas.toml: [env] allow = [%s]", quoteJS(name), quoteJS(name))))
		}
		v, ok := os.LookupEnv(name)
		if !ok {
			return goja.Undefined()
		}
		return vm.ToValue(v)
	})
	_ = h.Set("db", func(name string) goja.Value {
		o := vm.NewObject()
		_ = o.Set("name", name)
		_ = o.Set("query", func(call goja.FunctionCall) goja.Value {
			text := call.Argument(0).String()
			params, err := queryParams(vm, call.Argument(1))
			if err != nil {
				panic(vm.NewTypeError(fmt.Sprintf("db(%s).query: %v", quoteJS(name), err)))
			}
			what := "db(" + quoteJS(name) + ").query"
			return l.async(what, func(ctx context.Context) hostResult {
				if host.DB == nil {
					return func() (goja.Value, error) {
						return nil, fmt.Errorf("no database named %s is configured: declare it in jawas.toml as [db.%s] with url = \"sqlite:data/app.db\" or \"postgres://...\"", quoteJS(name), name)
					}
				}
				rows, err := host.DB.Query(ctx, name, text, params, true)
				return func() (goja.Value, error) {
					if err != nil {
						if ctx.Err() != nil {
							return nil, fetchFailure(context.Cause(ctx))
						}
						return nil, err
					}
					return rowsValue(rt, rows)
				}
			})
		})
		return o
	})
	symFor, err := vm.RunString(`Symbol.for(` + quoteJS(HostSymbol) + `)`)
	if err != nil {
		return err
	}
	return vm.GlobalObject().DefineDataPropertySymbol(symFor.(*goja.Symbol), h, goja.FLAG_FALSE, goja.FLAG_FALSE, goja.FLAG_FALSE)
}

func (m *Module) readFile(p string) ([]byte, error) {
	if m.opt.Host.Files == nil {
		return nil, errors.New("this runtime has no project directory to read from")
	}
	return m.opt.Host.Files.Read(p)
}

// queryParams converts query parameters to Go values: null/undefined → nil,
// booleans, numbers (integers as int64), strings, Dates (time.Time),
// bigints (string), typed arrays (bytes); objects and arrays as JSON text.
func queryParams(vm *goja.Runtime, v goja.Value) ([]any, error) {
	if v == nil || goja.IsUndefined(v) || goja.IsNull(v) {
		return nil, nil
	}
	o, ok := v.(*goja.Object)
	if !ok || o.ClassName() != "Array" {
		return nil, errors.New("params must be an array, e.g. query(\"select * from t where id = ?\", [id])")
	}
	var out []any
	for i, e := range o.Export().([]any) {
		switch x := e.(type) {
		case nil, bool, string:
			out = append(out, x)
		case int64:
			out = append(out, x)
		case float64:
			if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
				out = append(out, int64(x))
			} else {
				out = append(out, x)
			}
		case time.Time:
			out = append(out, x)
		case []byte:
			out = append(out, append([]byte(nil), x...))
		case goja.ArrayBuffer:
			out = append(out, append([]byte(nil), x.Bytes()...))
		case *big.Int:
			out = append(out, x.String())
		default:
			js, err := json.Marshal(x)
			if err != nil {
				return nil, fmt.Errorf("parameter %d cannot be sent to the database: %v", i+1, err)
			}
			out = append(out, string(js))
		}
	}
	return out, nil
}

// rowsValue builds the JavaScript array of row objects, keys in column
// order.
func rowsValue(rt *runtime, rows Rows) (goja.Value, error) {
	vm := rt.vm
	out := make([]any, len(rows.Values))
	for i, vals := range rows.Values {
		o := vm.NewObject()
		for j, c := range rows.Columns {
			if j >= len(vals) {
				break
			}
			v, err := sqlValue(rt, vals[j])
			if err != nil {
				return nil, fmt.Errorf("column %s: %w", quoteJS(c), err)
			}
			_ = o.Set(c, v)
		}
		out[i] = o
	}
	return vm.NewArray(out...), nil
}

func sqlValue(rt *runtime, v any) (goja.Value, error) {
	vm := rt.vm
	switch x := v.(type) {
	case nil:
		return goja.Null(), nil
	case bool, string, int64, float64, int, int32, float32:
		return vm.ToValue(x), nil
	case time.Time:
		return vm.ToValue(x.UTC().Format("2006-01-02T15:04:05.000Z")), nil
	case []byte:
		return vm.ToValue(base64.StdEncoding.EncodeToString(x)), nil
	case json.RawMessage:
		return rt.parseJSON(goja.Undefined(), vm.ToValue(string(x)))
	default:
		js, err := json.Marshal(x)
		if err != nil {
			return nil, err
		}
		return rt.parseJSON(goja.Undefined(), vm.ToValue(string(js)))
	}
}
