// Package e2e holds the tests that drive the real jawas binary on the
// repository's own demo project from the outside: dev mode's author loop
// (watch, reload, errors) observed over HTTP, production pickup of site and
// template files, and a real headless Chromium on the demo page.
//
// It has no non-test code and must never be imported; it never touches
// port 8080 or the repository's own files (every test works on a copy).
package e2e
