// Package client holds the jawas browser library, served by jawas at
// /_jawas/client.js (public, same bytes for everyone) and usable as a plain
// ES module. It owns only the embedded files; it must never import another
// jawas package or do I/O.
package client

import _ "embed"

// JS is client.js, the ES module.
//
//go:embed client.js
var JS []byte

// DTS is client.d.ts, its TypeScript declarations.
//
//go:embed client.d.ts
var DTS []byte
