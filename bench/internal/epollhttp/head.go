package epollhttp

import (
	"bytes"
	"fmt"
	"strconv"
)

var (
	crlf2  = []byte("\r\n\r\n")
	hCL    = []byte("\r\ncontent-length:")
	hCLLen = len(hCL)
)

// ParseHead returns the status and the response's total size (head + body)
// from a response head ending in CRLF CRLF.
func ParseHead(h []byte) (status, size int, err error) {
	if len(h) < 12 || !bytes.HasPrefix(h, []byte("HTTP/1.")) {
		return 0, 0, fmt.Errorf("bad status line %q", h[:min(len(h), 40)])
	}
	status, err = strconv.Atoi(string(h[9:12]))
	if err != nil {
		return 0, 0, fmt.Errorf("bad status line %q", h[:min(len(h), 40)])
	}
	for i := 0; i+hCLLen <= len(h); i++ {
		if h[i] == '\r' && bytes.EqualFold(h[i:i+hCLLen], hCL) {
			v := h[i+hCLLen:]
			v = v[:bytes.IndexByte(v, '\r')]
			cl, err := strconv.Atoi(string(bytes.TrimSpace(v)))
			if err != nil || cl < 0 {
				return 0, 0, fmt.Errorf("bad Content-Length %q", v)
			}
			return status, len(h) + cl, nil
		}
	}
	return 0, 0, fmt.Errorf("response without Content-Length: %q", h)
}

// containsFold reports whether h holds s, compared without regard to ASCII
// case.
func containsFold(h []byte, s string) bool {
	for i := 0; i+len(s) <= len(h); i++ {
		if bytes.EqualFold(h[i:i+len(s)], []byte(s)) {
			return true
		}
	}
	return false
}
