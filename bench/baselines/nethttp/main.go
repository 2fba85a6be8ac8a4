//go:build unix

// Command nethttp is the Go net/http baseline jawas must beat: it serves the
// same ~1 KB JSON document at every path, either encoded per request
// (-mode perrequest: json.Marshal of a struct on every GET) or encoded once
// per period and served as cached bytes (-mode cached). It is a benchmark
// target only and must never grow features the comparison does not need.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"
)

// Player and Arena make up a ~1 KB document shaped like the demo's arena.
type Player struct {
	ID    string  `json:"id"`
	Name  string  `json:"name"`
	X     float64 `json:"x"`
	Y     float64 `json:"y"`
	Score int     `json:"score"`
	Alive bool    `json:"alive"`
}

type Arena struct {
	Now     int64    `json:"now"`
	Period  int      `json:"period_ms"`
	Tick    int64    `json:"tick"`
	Players []Player `json:"players"`
}

func arena(now time.Time, period time.Duration) Arena {
	a := Arena{Now: now.UnixMilli(), Period: int(period / time.Millisecond), Tick: now.UnixNano() / int64(period)}
	for i := range 14 { // 14 players: ~1 KB of JSON
		a.Players = append(a.Players, Player{
			ID: "p" + strconv.Itoa(i), Name: fmt.Sprintf("player-%02d", i),
			X: float64(i) * 12.5, Y: float64(i*i) * 0.75, Score: i * 100, Alive: i%3 != 0,
		})
	}
	return a
}

func main() {
	mode := flag.String("mode", "cached", "perrequest | cached")
	addr := flag.String("addr", "127.0.0.1:8081", "listen address")
	period := flag.Duration("period", 200*time.Millisecond, "period of the cached mode")
	flag.Parse()

	var h http.Handler
	switch *mode {
	case "perrequest":
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, err := json.Marshal(arena(time.Now(), *period))
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.Write(b)
		})
	case "cached":
		var cur atomic.Pointer[[]byte]
		encode := func() {
			b, err := json.Marshal(arena(time.Now(), *period))
			if err != nil {
				log.Fatalf("nethttp: encode snapshot: %v", err)
			}
			cur.Store(&b)
		}
		encode()
		go func() { // re-encodes once per period, at epoch-aligned boundaries
			for {
				time.Sleep(time.Until(time.Now().Truncate(*period).Add(*period)))
				encode()
			}
		}()
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b := *cur.Load()
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", strconv.Itoa(len(b)))
			w.Write(b)
		})
	default:
		fmt.Fprintf(os.Stderr, "nethttp: unknown -mode %q (perrequest | cached)\n", *mode)
		os.Exit(2)
	}
	srv := &http.Server{Addr: *addr, Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	if err := srv.ListenAndServe(); err != nil {
		log.Fatalf("nethttp: serve %s: %v", *addr, err)
	}
}
