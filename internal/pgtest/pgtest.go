// Package pgtest starts a real PostgreSQL server for tests: Debian's
// postgresql package (scripts/ensure-deps.sh installs it), initdb'd in a
// temporary directory, listening on 127.0.0.1 at a free port with a socket
// directory of its own, and stopped by its pid. It is for tests only and
// must never be imported by the product. A missing PostgreSQL is a test
// failure with the install hint, never a skip.
//
// initdb and postgres refuse to run as root; as root the server runs as
// the "postgres" user the package creates (set in the child's credentials,
// so the pid the test holds is the postmaster's own).
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// InstallHint says how to get the server binaries.
const InstallHint = "run scripts/ensure-deps.sh (or apt-get install postgresql): the PostgreSQL tests need a real server"

// startTimeout bounds initdb and the wait for the server to accept
// connections; stopTimeout the wait for a fast shutdown before SIGKILL.
const (
	startTimeout = 90 * time.Second
	stopTimeout  = 30 * time.Second
)

// Server is one running (or stopped) PostgreSQL instance. Its methods
// must be called from the test's goroutine.
type Server struct {
	Port     int
	Root     string // temporary directory holding data/, sock/ and postgres.log
	bin      string
	settings []string
	attr     *syscall.SysProcAttr
	t        testing.TB

	cmd  *exec.Cmd
	done chan struct{} // closed once cmd has been waited for
}

// Start runs initdb and starts a server; the test's cleanup stops it and
// removes its files. settings are extra "name=value" server settings
// (for example "shared_preload_libraries=pg_stat_statements").
func Start(t testing.TB, settings ...string) *Server {
	t.Helper()
	bin, err := BinDir()
	if err != nil {
		t.Fatalf("pgtest: %v; %s", err, InstallHint)
	}
	owner, attr, err := runAs()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	root, err := os.MkdirTemp("", "jawas-pg-")
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	s := &Server{Root: root, bin: bin, settings: settings, attr: attr, t: t}
	t.Cleanup(func() {
		s.Stop()
		os.RemoveAll(root)
	})
	for _, d := range []string{root, filepath.Join(root, "sock")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatalf("pgtest: %v", err)
		}
		if owner != nil {
			if err := os.Chown(d, owner.uid, owner.gid); err != nil {
				t.Fatalf("pgtest: chown %s to the postgres user: %v", d, err)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", s.dataDir(), "-U", "postgres",
		"-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	initdb.SysProcAttr = attr
	initdb.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C"}
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("pgtest: initdb: %v\n%s", err, out)
	}
	// A free port can be taken between the probe and the bind: try again.
	for attempt := 0; ; attempt++ {
		s.Port = freePort(t)
		err := s.start()
		if err == nil {
			return s
		}
		if attempt == 2 || !strings.Contains(err.Error(), "could not bind") {
			t.Fatalf("pgtest: %v", err)
		}
	}
}

// BinDir finds the directory of initdb and postgres: $JAWAS_PG_BIN, else
// the newest /usr/lib/postgresql/N/bin.
func BinDir() (string, error) {
	if d := os.Getenv("JAWAS_PG_BIN"); d != "" {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err != nil {
			return "", fmt.Errorf("JAWAS_PG_BIN=%s: no initdb there", d)
		}
		return d, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, f := range dirs {
		if _, err := os.Stat(filepath.Join(filepath.Dir(f), "postgres")); err == nil {
			return filepath.Dir(f), nil
		}
	}
	return "", errors.New("PostgreSQL server binaries not found (no /usr/lib/postgresql/*/bin/initdb)")
}

func version(initdb string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return n
}

func (s *Server) dataDir() string { return filepath.Join(s.Root, "data") }
func (s *Server) sockDir() string { return filepath.Join(s.Root, "sock") }

// LogFile is the server's log (stdout and stderr of every start).
func (s *Server) LogFile() string { return filepath.Join(s.Root, "postgres.log") }

// URL is a libpq URL for the superuser "postgres" on database "postgres".
func (s *Server) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.Port)
}

// Pid is the postmaster's pid, 0 when stopped.
func (s *Server) Pid() int {
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// start launches the postmaster on s.Port and waits until it accepts a
// connection.
func (s *Server) start() error {
	logf, err := os.OpenFile(s.LogFile(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	args := []string{"-D", s.dataDir(), "-p", strconv.Itoa(s.Port), "-k", s.sockDir(),
		"-c", "listen_addresses=127.0.0.1",
		// A throwaway cluster: durability buys nothing and costs fsyncs.
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"}
	for _, kv := range s.settings {
		args = append(args, "-c", kv)
	}
	cmd := exec.Command(filepath.Join(s.bin, "postgres"), args...)
	cmd.SysProcAttr = s.attr
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C"}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }() // reaps the postmaster whenever it exits
	s.cmd, s.done = cmd, done
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-done:
			s.cmd = nil
			return fmt.Errorf("postgres exited while starting (%v); log %s:\n%s", cmd.ProcessState, s.LogFile(), s.logTail())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c, err := pgconn.Connect(ctx, s.URL())
		cancel()
		if err == nil {
			c.Close(context.Background())
			return nil
		}
		if time.Now().After(deadline) {
			s.Stop()
			return fmt.Errorf("postgres did not accept connections within %s: %v; log:\n%s", startTimeout, err, s.logTail())
		}
		time.Sleep(20 * time.Millisecond) // polling for readiness, not timing an assertion
	}
}

// Restart starts a stopped server again on the same port and data.
func (s *Server) Restart() {
	s.t.Helper()
	if s.cmd != nil {
		s.t.Fatal("pgtest: Restart of a running server")
	}
	if err := s.start(); err != nil {
		s.t.Fatalf("pgtest: restart: %v", err)
	}
}

// Stop shuts the server down by its pid: SIGINT, PostgreSQL's "fast"
// shutdown (SIGTERM is its "smart" one, which waits for every client to
// disconnect, and a test's pool never does), then SIGKILL if it has not
// exited within stopTimeout. It returns once the postmaster is reaped.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
	case <-time.After(stopTimeout):
		s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}

// Exec runs SQL (several statements allowed, no parameters) as the
// superuser, failing the test on error.
func (s *Server) Exec(sql string) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgconn.Connect(ctx, s.URL())
	if err != nil {
		s.t.Fatalf("pgtest: connect: %v", err)
	}
	defer c.Close(context.Background())
	if _, err := c.Exec(ctx, sql).ReadAll(); err != nil {
		s.t.Fatalf("pgtest: %v\n%s", err, sql)
	}
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(s.LogFile())
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

type ids struct{ uid, gid int }

// lookupPostgres finds the unprivileged user the server runs as when the
// test runs as root.
func lookupPostgres() (*ids, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, and initdb refuses root: no \"postgres\" user to run it as (%v); %s", err, InstallHint)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &ids{uid, gid}, nil
}
