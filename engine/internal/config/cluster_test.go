package config

import (
	"strings"
	"testing"
	"time"
)

func TestClusterValid(t *testing.T) {
	c, err := Load(write(t, `
[cluster]
enabled = true
node_id = "n1"
roles = ["serve", "engine"]
embed = true
embed_listen = "127.0.0.1:4222"
embed_cluster = "127.0.0.1:6222"
embed_routes = ["nats://127.0.0.1:6222", "nats://127.0.0.1:6223"]
lease_ttl = "3s"
`))
	if err != nil {
		t.Fatal(err)
	}
	k := c.Cluster
	if !k.Enabled || k.NodeID != "n1" || k.URLs() != "nats://127.0.0.1:4222" || k.LeaseTTL.Duration != 3*time.Second || k.Replicas != 3 || k.WriteAck != "replicated" {
		t.Fatalf("values not read or defaulted: %+v", k)
	}
	if always, _ := k.SyncAlways(); !always {
		t.Fatal("the embedded server must fsync before every ack by default")
	}
}

// Every bad [cluster] value is named by its key.
func TestClusterErrorsNameKeys(t *testing.T) {
	for _, tc := range []struct{ body, key string }{
		{"enabled = true\nnats_url = \"nats://a:4222\"", `"cluster.node_id"`},
		{"enabled = true\nnode_id = \"n 1\"\nnats_url = \"nats://a:4222\"", `"cluster.node_id"`},
		{"enabled = true\nnode_id = \"n1\"", `"cluster.nats_url"`},
		{"enabled = true\nnode_id = \"n1\"\nnats_url = \"http://a:4222\"", `"cluster.nats_url"`},
		{"enabled = true\nnode_id = \"n1\"\nnats_url = \"nats://a:4222\"\nroles = [\"engine\"]", `"cluster.roles"`},
		{"enabled = true\nnode_id = \"n1\"\nnats_url = \"nats://a:4222\"\nroles = [\"serve\", \"boss\"]", `"cluster.roles[1]"`},
		{"enabled = true\nnode_id = \"n1\"\nnats_url = \"nats://a:4222\"\nreplicas = 7", `"cluster.replicas"`},
		{"enabled = true\nnode_id = \"n1\"\nnats_url = \"nats://a:4222\"\nlease_ttl = \"100ms\"", `"cluster.lease_ttl"`},
		{"enabled = true\nnode_id = \"n1\"\nnats_url = \"nats://a:4222\"\nwrite_ack = \"quorum\"", `"cluster.write_ack"`},
		{"enabled = true\nnode_id = \"n1\"\nembed = true\nembed_listen = \"nowhere\"", `"cluster.embed_listen"`},
		{"enabled = true\nnode_id = \"n1\"\nembed = true\nembed_listen = \"127.0.0.1:4222\"\nembed_routes = [\"nats://127.0.0.1:6222\"]", `"cluster.embed_cluster"`},
		{"enabled = true\nnode_id = \"n1\"\nembed = true\nembed_listen = \"127.0.0.1:4222\"\nembed_sync = \"sometimes\"", `"cluster.embed_sync"`},
		{"enabled = true\nnode_id = \"n1\"\nembed = true\nembed_listen = \"127.0.0.1:4222\"\nembed_monitor = \"8222\"", `"cluster.embed_monitor"`},
		{"enabled = true\nnode_id = \"n1\"\nnats_url = \"nats://127.0.0.1:4222\"\nembed_monitor = \"127.0.0.1:8222\"", `"cluster.embed"`},
		{"enabled = true\nnode_id = \"n1\"\nnats_url = \"nats://a:4222\"\nembed_routes = [\"nats://b:6222\"]", `"cluster.embed"`},
		{"enabled = true\nnode_id = \"n1\"\nnats_url = \"nats://a:4222\"\ninline_max = 2000000", `"cluster.inline_max"`},
		{"enabled = true\nnode_id = \"n1\"\nnats_url = \"nats://a:4222\"\nroles = [\"serve\"]\ndebug_lead_without_lease = true", `"cluster.debug_lead_without_lease"`},
	} {
		_, err := Load(write(t, "[cluster]\n"+tc.body+"\n"))
		if err == nil || !strings.Contains(err.Error(), tc.key) || !strings.Contains(err.Error(), "jawas.toml") {
			t.Errorf("%q: error %v, want one naming the file and key %s", tc.body, err, tc.key)
		}
	}
	// Off, nothing is checked: the defaults alone are valid.
	if _, err := Load(write(t, "[cluster]\nreplicas = 3\n")); err != nil {
		t.Fatal(err)
	}
}
