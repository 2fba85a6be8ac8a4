package http1

import "time"

// Temporary stubs so the API compiles; replaced by the real implementations.

type state struct{}

func methodName(m Method) string                              { panic("TODO") }
func (r *Request) reset()                                     { panic("TODO") }
func errorString(e *Error) string                             { panic("TODO") }
func (p *Parser) parse(buf []byte, req *Request) (int, error) { panic("TODO") }
func (p *Parser) headersComplete() bool                       { panic("TODO") }
func (p *Parser) reset()                                      { panic("TODO") }
func (d *DateCache) get(now time.Time) []byte                 { panic("TODO") }
func appendHTTPDate(dst []byte, t time.Time) []byte           { panic("TODO") }
func parseHTTPDate(b []byte) (time.Time, bool)                { panic("TODO") }
func statusText(code int) string                              { panic("TODO") }
func appendStatusLine(dst []byte, code int) []byte            { panic("TODO") }
func appendErrorResponse(dst []byte, code int, date []byte, close bool, extra []Header) []byte {
	panic("TODO")
}
func noneMatch(inm, etag []byte) bool                     { panic("TODO") }
func negotiate(ae []byte, haveGzip, haveBr bool) Encoding { panic("TODO") }
