// Package fakehttp is the loopback HTTP/1.1 server the load clients'
// tests answer from (bench/internal/epollhttp, bench/writes): it reads
// body-less requests, each ending at its blank line, and lets the test
// write each answer.
package fakehttp

import (
	"bytes"
	"net"
	"testing"
)

// Answer writes the answer to request k (counted from 0 on its
// connection); pipelined says another request had already arrived behind
// it. An error closes the connection.
type Answer func(c net.Conn, k int, pipelined bool) error

// Start listens on a free loopback port, answers every connection's
// requests in turn with answer, and returns the address. The listener
// closes at t's cleanup; a connection ends when its client closes it.
func Start(t testing.TB, answer Answer) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() { // accept loop; ends when the listener closes
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serve(c, answer)
		}
	}()
	return ln.Addr().String()
}

var endOfHead = []byte("\r\n\r\n")

func serve(c net.Conn, answer Answer) {
	defer c.Close()
	buf := make([]byte, 4096)
	n, k := 0, 0
	for {
		m, err := c.Read(buf[n:])
		if err != nil {
			return
		}
		n += m
		for {
			end := bytes.Index(buf[:n], endOfHead)
			if end < 0 {
				break
			}
			n = copy(buf, buf[end+len(endOfHead):n])
			if err := answer(c, k, n > 0); err != nil {
				return
			}
			k++
		}
	}
}
