package api

import (
	"sync"

	"github.com/jawas/jawas/engine/internal/bundle"
	"github.com/jawas/jawas/engine/internal/client"
)

var (
	clientOnce sync.Once
	clientMin  []byte
	clientErr  error
)

// clientJS is the browser library as served at /_jawas/client.js and
// written by `jawas build`: minified once per process (the size the README
// quotes; engine/client's TestSize guards it), or the readable source if
// minification fails.
func clientJS() []byte {
	clientOnce.Do(func() { clientMin, clientErr = bundle.Minify(client.JS, "client.js") })
	if clientErr != nil {
		return client.JS
	}
	return clientMin
}
