// Command jawas publishes pseudo-static data: see README.md.
//
// main.go holds the subcommand table; each subcommand lives in its own file
// and owns its flags. Exit codes: 0 success, 1 failure, 2 usage error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Main carries the process's streams so tests can run subcommands in-process.
type Main struct {
	Stdout, Stderr io.Writer
	// Process is set when Main runs as the process's own main: serve may
	// then re-execute it (api.PrepareServe). Tests running commands
	// in-process leave it false.
	Process bool
}

type command struct {
	name, summary string
	run           func(m *Main, ctx context.Context, args []string) error
}

func commands() []command {
	return []command{
		{"init", "create a new jawas project in DIR (default: current directory)", (*Main).runInit},
		{"build", "evaluate every source once and write a static site", (*Main).runBuild},
		{"serve", "serve the project (supervisor, engine and workers)", (*Main).runServe},
		{"state", "list, show or reset the sources' state (running server or data dir)", (*Main).runState},
		{"bench", "poll a URL like N clients each once per period and report what was held", (*Main).runBench},
		{"version", "print the version", (*Main).runVersion},
		{"help", "show help for a command", (*Main).runHelp},
	}
}

// errUsage marks an error that has already printed its usage; exit code 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// errSilent reports failure (exit 1) after the command printed its own error.
var errSilent = errors.New("failed")

func (m *Main) usage(w io.Writer) {
	fmt.Fprintf(w, "jawas %s — dynamic data at static-file cost\n\nUsage: jawas <command> [flags]\n\nCommands:\n", version)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun 'jawas <command> -h' for a command's flags.\n")
}

// Run executes one command line and returns the process exit code.
func (m *Main) Run(ctx context.Context, args []string) int {
	if len(args) == 0 {
		m.usage(m.Stderr)
		return 2
	}
	name := args[0]
	if name == "-h" || name == "--help" || name == "-help" {
		m.usage(m.Stdout)
		return 0
	}
	if name == "-v" || name == "--version" {
		name = "version"
	}
	for _, c := range commands() {
		if c.name != name {
			continue
		}
		err := c.run(m, ctx, args[1:])
		var ue usageError
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.As(err, &ue):
			fmt.Fprintf(m.Stderr, "jawas %s: %s\n", name, ue.msg)
			fmt.Fprintf(m.Stderr, "Run 'jawas %s -h' for usage.\n", name)
			return 2
		case errors.Is(err, errSilent):
			return 1
		default:
			fmt.Fprintf(m.Stderr, "jawas %s: %v\n", name, err)
			return 1
		}
	}
	fmt.Fprintf(m.Stderr, "jawas: unknown command %q\n", name)
	m.usage(m.Stderr)
	return 2
}

// flags makes a FlagSet whose errors become usage errors (exit 2) and whose
// -h prints the command's flags.
func (m *Main) flags(name, args, summary string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprintf(m.Stdout, "Usage: jawas %s %s\n\n%s\n", name, args, summary)
		var b strings.Builder
		fs.SetOutput(&b)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
		if b.Len() > 0 {
			fmt.Fprintf(m.Stdout, "\nFlags:\n%s", b.String())
		}
	}
	return fs
}

// parse parses flags, turning flag errors into usage errors.
// flag.Parse itself calls Usage on every error; it is silenced here so a
// bad flag gets the one-line error only, and -h prints the usage once.
func (m *Main) parse(fs *flag.FlagSet, args []string) error {
	usage := fs.Usage
	fs.Usage = func() {}
	err := fs.Parse(args)
	fs.Usage = usage
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.Usage()
			return flag.ErrHelp
		}
		return usageError{err.Error()}
	}
	return nil
}

func (m *Main) runVersion(ctx context.Context, args []string) error {
	fs := m.flags("version", "", "Print the jawas version.")
	if err := m.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	fmt.Fprintf(m.Stdout, "jawas %s\n", version)
	return nil
}

func (m *Main) runHelp(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		m.usage(m.Stdout)
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] && c.name != "help" {
			return c.run(m, ctx, []string{"-h"})
		}
	}
	return usageError{fmt.Sprintf("unknown command %q", args[0])}
}

func main() {
	if code, ok := runChild(); ok { // re-executed supervisor children
		os.Exit(code)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m := &Main{Stdout: os.Stdout, Stderr: os.Stderr, Process: true}
	os.Exit(m.Run(ctx, os.Args[1:]))
}
