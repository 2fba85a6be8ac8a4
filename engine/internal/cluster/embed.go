package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/jawas/jawas/engine/internal/config"
)

// StartEmbedded starts the NATS server a node embeds (cluster.embed):
// JetStream on storeDir, the client port cluster.embed_listen, and, with
// cluster.embed_cluster, a route port joined to cluster.embed_routes. It
// fsyncs before every acknowledgement unless cluster.embed_sync says
// otherwise: without that, the Jepsen analysis of NATS 2.12.1 lost
// acknowledged writes on a power loss of all nodes. With
// cluster.embed_monitor it serves NATS's monitoring endpoints (/healthz:
// 200 once its JetStream is current with every group). The server's warnings
// and errors go to log; its notices (leader elections, catch-ups) at debug.
func StartEmbedded(cfg config.Cluster, storeDir string, log *slog.Logger) (*server.Server, error) {
	host, port, err := splitHostPort(cfg.EmbedListen)
	if err != nil {
		return nil, fmt.Errorf("cluster.embed_listen: %w", err)
	}
	opts := &server.Options{
		ServerName: cfg.NodeID,
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   storeDir,
		NoSigs:     true,
	}
	opts.SyncAlways, opts.SyncInterval = cfg.SyncAlways()
	if cfg.EmbedCluster != "" {
		ch, cp, err := splitHostPort(cfg.EmbedCluster)
		if err != nil {
			return nil, fmt.Errorf("cluster.embed_cluster: %w", err)
		}
		opts.Cluster = server.ClusterOpts{Name: cfg.Name, Host: ch, Port: cp}
		opts.Routes = server.RoutesFromStr(strings.Join(cfg.EmbedRoutes, ","))
	}
	if cfg.EmbedMonitor != "" {
		if opts.HTTPHost, opts.HTTPPort, err = splitHostPort(cfg.EmbedMonitor); err != nil {
			return nil, fmt.Errorf("cluster.embed_monitor: %w", err)
		}
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("cluster: embedded NATS server: %w", err)
	}
	s.SetLoggerV2(natsLogger{log.With("nats", cfg.NodeID)}, false, false, false)
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("cluster: embedded NATS server on %s did not start", cfg.EmbedListen)
	}
	return s, nil
}

func splitHostPort(hp string) (string, int, error) {
	h, p, err := net.SplitHostPort(hp)
	if err != nil {
		return "", 0, err
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("port %q: %w", p, err)
	}
	return h, n, nil
}

// natsLogger passes an embedded NATS server's log to jawas's: notices at
// debug (a cluster's elections and catch-ups, chatty on start), warnings
// and errors as such. The server's debug and trace lines are off.
type natsLogger struct{ log *slog.Logger }

func (l natsLogger) Noticef(format string, v ...any) { l.put(slog.LevelDebug, format, v) }
func (l natsLogger) Warnf(format string, v ...any)   { l.put(slog.LevelWarn, format, v) }
func (l natsLogger) Errorf(format string, v ...any)  { l.put(slog.LevelError, format, v) }
func (l natsLogger) Fatalf(format string, v ...any)  { l.put(slog.LevelError, format, v) }
func (l natsLogger) Debugf(format string, v ...any)  {}
func (l natsLogger) Tracef(format string, v ...any)  {}

func (l natsLogger) put(lv slog.Level, format string, v []any) {
	if l.log.Enabled(context.Background(), lv) {
		l.log.Log(context.Background(), lv, "NATS: "+fmt.Sprintf(format, v...))
	}
}
