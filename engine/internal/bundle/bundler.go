package bundle

// This file implements incremental bundling for dev mode: a Bundler keeps
// one esbuild build context per source, because esbuild's Rebuild reuses
// the parse of every file that did not change, which makes a save-to-reload
// cycle cost the changed file, not the whole project.

import (
	"fmt"
	"maps"
	"path/filepath"
	"runtime"
	"slices"
	"sync"

	"github.com/evanw/esbuild/pkg/api"

	"github.com/jawas/jawas/engine"
)

// Bundler bundles a changing set of sources incrementally. It is safe for
// concurrent use; calls are serialised.
type Bundler struct {
	absProject string

	mu   sync.Mutex
	ctxs map[string]*bundlerEntry // by source name
}

type bundlerEntry struct {
	src engine.Source
	ctx api.BuildContext
}

// NewBundler returns a Bundler for the project in projectDir with no sources;
// call Set with the discovered sources.
func NewBundler(projectDir string) (*Bundler, error) {
	abs, err := filepath.Abs(projectDir)
	if err != nil {
		return nil, fmt.Errorf("new bundler: resolve project dir: %w", err)
	}
	return &Bundler{absProject: abs, ctxs: map[string]*bundlerEntry{}}, nil
}

// Set makes srcs the Bundler's sources: contexts of sources no longer listed
// (or whose file changed) are disposed, new ones are created. It does not
// build; call Rebuild.
func (b *Bundler) Set(srcs []engine.Source) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	keep := map[string]bool{}
	for _, src := range srcs {
		keep[src.Name] = true
		if e, ok := b.ctxs[src.Name]; ok && e.src == src {
			continue
		} else if ok {
			e.ctx.Dispose()
			delete(b.ctxs, src.Name)
		}
		ctx, cerr := api.Context(buildOptions(b.absProject, src))
		if cerr != nil {
			return fmt.Errorf("bundler: create esbuild context for %s: %w", src.File, cerr)
		}
		b.ctxs[src.Name] = &bundlerEntry{src: src, ctx: ctx}
	}
	for name, e := range b.ctxs {
		if !keep[name] {
			e.ctx.Dispose()
			delete(b.ctxs, name)
		}
	}
	return nil
}

// Rebuild rebuilds the named sources (all of them when names is empty),
// concurrently, and returns their Outputs in the order of names (by name
// when names is empty). As with Bundle, the error is an engine.Diagnostics
// with every error of every broken source; good sources still get their
// Output. An unknown name is an error.
func (b *Bundler) Rebuild(names ...string) ([]Output, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(names) == 0 {
		names = slices.Sorted(maps.Keys(b.ctxs))
	}
	entries := make([]*bundlerEntry, len(names))
	for i, name := range names {
		e, ok := b.ctxs[name]
		if !ok {
			return nil, fmt.Errorf("bundler: rebuild: no source named %q", name)
		}
		entries[i] = e
	}
	outs := make([]Output, len(entries))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, e := range entries {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			outs[i] = fromResult(b.absProject, e.src, e.ctx.Rebuild())
		}()
	}
	wg.Wait()
	return outs, joinErrors(outs)
}

// Close disposes every esbuild context. The Bundler must not be used after.
func (b *Bundler) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for name, e := range b.ctxs {
		e.ctx.Dispose()
		delete(b.ctxs, name)
	}
}
