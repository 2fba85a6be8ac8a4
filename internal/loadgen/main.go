package loadgen

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Main is `jawas bench URL [flags]`: it runs the simulation, prints the
// table to stdout and progress to stderr, and returns 0 when the asked rate
// was held without too many errors, 1 when not, 2 on usage errors. Flags may
// come before or after the URL.
func Main(args []string, stdout, stderr io.Writer) int {
	var cfg Config
	var jsonFile string
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: jawas bench URL [flags]\n\nN clients each poll URL once per period on kept-alive connections.")
		fs.PrintDefaults()
	}
	fs.IntVar(&cfg.Clients, "clients", 1000, "simulated clients, one connection each")
	fs.DurationVar(&cfg.Period, "period", defaultPeriod, "each client polls once per period")
	fs.DurationVar(&cfg.Duration, "duration", defaultDuration, "measured window")
	fs.DurationVar(&cfg.Warmup, "warmup", defaultWarmup, "excluded from stats, after all connections are open")
	fs.IntVar(&cfg.ConnectRate, "connect-rate", 2000, "new connections per second while ramping up")
	fs.DurationVar(&cfg.Timeout, "timeout", defaultTimeout, "per request and per connect")
	fs.Float64Var(&cfg.MaxErrorRate, "max-error-rate", 0, "fail when errors/attempts exceeds this (0..1)")
	fs.Float64Var(&cfg.MinRateRatio, "min-rate-ratio", 0.95, "fail when achieved rate < this × asked rate")
	fs.StringVar(&jsonFile, "json", "", "also write the result as JSON to this file")
	fs.StringVar(&cfg.Engine, "engine", "", "epoll (default on Linux) or goroutine (one per client)")

	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(positional) != 1 {
		fs.Usage()
		return 2
	}
	cfg.URL = positional[0]

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := Run(ctx, cfg, stderr)
	if res == nil {
		fmt.Fprintln(stderr, "jawas bench:", err)
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, "jawas bench:", err)
	}
	res.WriteTable(stdout)
	if jsonFile != "" {
		b, err := res.JSON()
		if err == nil {
			err = os.WriteFile(jsonFile, b, 0o644)
		}
		if err != nil {
			fmt.Fprintf(stderr, "jawas bench: write %s: %v\n", jsonFile, err)
			return 2
		}
	}
	if ok, _ := res.OK(); !ok || err != nil {
		return 1
	}
	return 0
}
