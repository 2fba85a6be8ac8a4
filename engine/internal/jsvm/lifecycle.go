package jsvm

// This file implements what a source exports about its state's life, read
// once at Load: `version` (an integer, 0 when absent), `initial` (kept as
// JSON, so the engine can tell a changed `initial` and can reset to it) and
// `migrate(oldState, oldVersion)`. Deciding when to migrate is the
// caller's (engine/internal/writes/lifecycle.go): jsvm only runs the call,
// under the same budget and memory guard as a render.

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"

	"github.com/dop251/goja"

	"github.com/jawas/jawas/engine"
)

// lifecycle is what readLifecycle found in the exports.
type lifecycle struct {
	version int
	initial []byte // JSON of `initial`; nil when the source exports none
	migrate bool
}

// readLifecycle reads version, initial and migrate from the freshly loaded
// runtime's exports; readExports has already set m.good to `initial`.
func (m *Module) readLifecycle() error {
	rt := m.rt
	bad := func(format string, args ...any) error {
		return engine.Diagnostic{File: m.src.File, Message: fmt.Sprintf(format, args...)}
	}
	if init := rt.exports.Get("initial"); init != nil && !goja.IsUndefined(init) {
		m.life.initial = append([]byte(nil), m.good...)
	}
	if v := rt.exports.Get("version"); v != nil && !goja.IsUndefined(v) {
		var f float64
		switch x := v.Export().(type) {
		case int64:
			f = float64(x)
		case float64:
			f = x
		default:
			return bad(`export "version" must be a whole number (e.g. export const version = 2), not %s`, typeOf(v))
		}
		if f < 0 || f != math.Trunc(f) || f > math.MaxInt32 {
			return bad(`export "version" = %v must be a whole number from 0 up`, f)
		}
		m.life.version = int(f)
	}
	if v := rt.exports.Get("migrate"); v != nil && !goja.IsUndefined(v) {
		if _, ok := goja.AssertFunction(v); !ok {
			return bad(`export "migrate" must be a function migrate(oldState, oldVersion), not %s`, typeOf(v))
		}
		m.life.migrate = true
	}
	return nil
}

// Version is the source's `export const version` (0 when it exports none).
func (m *Module) Version() int { return m.life.version }

// Initial is the JSON of the source's `export const initial`, or nil when it
// exports none. The caller may keep it.
func (m *Module) Initial() []byte {
	if m.life.initial == nil {
		return nil
	}
	return append([]byte(nil), m.life.initial...)
}

// InitialHash identifies `initial`'s JSON ("" when there is none), so a
// changed `initial` can be told from the checkpoint.
func (m *Module) InitialHash() string {
	if m.life.initial == nil {
		return ""
	}
	return HashJSON(m.life.initial)
}

// HashJSON is InitialHash's hash of a JSON text: a state that is still its
// `initial`, byte for byte, has the same hash.
func HashJSON(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// HasMigrate reports whether the source exports migrate.
func (m *Module) HasMigrate() bool { return m.life.migrate }

// Migrate calls migrate(oldState, oldVersion) with a copy of old (JSON) and
// returns the new state's JSON: the value it returns, or oldState as it
// left it when it returns undefined. It does not change the module's state
// (the caller commits it with SetState). Failures are Diagnostics located
// in the author's file; the module stays usable with its state unchanged.
func (m *Module) Migrate(old []byte, oldVersion int) ([]byte, error) {
	if !m.life.migrate {
		return nil, engine.Diagnostic{File: m.src.File, Message: "the source exports no migrate(oldState, oldVersion)"}
	}
	if err := m.ensure(); err != nil {
		return nil, err
	}
	rt := m.rt
	var out []byte
	err := m.guard(rt, "migrate", false, func() error {
		fn, _ := goja.AssertFunction(rt.exports.Get("migrate"))
		st, err := rt.parseJSON(goja.Undefined(), rt.vm.ToValue(string(old)))
		if err != nil {
			return err
		}
		v, err := fn(goja.Undefined(), st, rt.vm.ToValue(oldVersion))
		if err != nil {
			return err
		}
		if _, ok := v.Export().(*goja.Promise); ok {
			return resultError("migrate must be synchronous, but it returned a Promise (is it async?)")
		}
		if goja.IsUndefined(v) {
			v = st
		}
		js, err := rt.enc.encode(v, "the state migrate returned", true, 0, m.opt.Timeout)
		if err != nil {
			return err
		}
		out = js
		return nil
	})
	if err != nil {
		m.recover(err)
		return nil, m.diagnose(err, fmt.Sprintf("migrate (from version %d to %d)", oldVersion, m.life.version))
	}
	return out, nil
}
