package http1

import (
	"bufio"
	"bytes"
	"net/http"
	"testing"
)

// A typical poll: a browser asking for a snapshot with If-None-Match.
var benchGET = []byte("GET /game/arena.json HTTP/1.1\r\nHost: example.com\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36\r\n" +
	"Accept: application/json\r\nAccept-Encoding: gzip, deflate, br, zstd\r\nAccept-Language: en-US,en;q=0.9\r\n" +
	"If-None-Match: \"5d8c72a5edda8d6a\"\r\nReferer: https://example.com/\r\nConnection: keep-alive\r\n\r\n")

// BenchmarkParseGET compares our parser with net/http's ReadRequest (the
// baseline) on the same bytes.
func BenchmarkParseGET(b *testing.B) {
	b.Run("jawas", func(b *testing.B) {
		var p Parser
		var req Request
		b.SetBytes(int64(len(benchGET)))
		b.ReportAllocs()
		for b.Loop() {
			if n, err := p.Parse(benchGET, &req); n != len(benchGET) || err != nil {
				b.Fatal(n, err)
			}
		}
	})
	b.Run("net-http", func(b *testing.B) {
		rd := bytes.NewReader(benchGET)
		br := bufio.NewReader(rd)
		b.SetBytes(int64(len(benchGET)))
		b.ReportAllocs()
		for b.Loop() {
			rd.Reset(benchGET)
			br.Reset(rd)
			if _, err := http.ReadRequest(br); err != nil {
				b.Fatal(err)
			}
		}
	})
}
