package cluster

import (
	"fmt"
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
// acknowledged writes on a power loss of all nodes.
func StartEmbedded(cfg config.Cluster, storeDir string) (*server.Server, error) {
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
		NoLog:      true,
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
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("cluster: embedded NATS server: %w", err)
	}
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
