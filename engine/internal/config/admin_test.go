package config

import (
	"net/netip"
	"strings"
	"testing"
)

func TestAdminKeys(t *testing.T) {
	c, err := Load(write(t, `
[serve]
admin_networks = ["10.0.0.0/8", "192.0.2.7", "::1"]
admin_token = "0123456789abcdef0123"
access_log = "logs/access.log"
health_max_missed = 3
`))
	if err != nil {
		t.Fatal(err)
	}
	got := c.AdminNetworks()
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32"), netip.MustParsePrefix("::1/128")}
	if len(got) != len(want) {
		t.Fatalf("networks %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("networks %v, want %v", got, want)
		}
	}
	if c.Serve.AdminToken != "0123456789abcdef0123" || c.Serve.AccessLog != "logs/access.log" || c.Serve.HealthMaxMissed != 3 {
		t.Fatalf("values not read: %+v", c.Serve)
	}

	d, err := Load(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if d.AdminNetworks() != nil || d.Serve.AccessLog != "" || d.Serve.HealthMaxMissed != 10 {
		t.Fatalf("defaults: networks %v, access log %q, health %d", d.AdminNetworks(), d.Serve.AccessLog, d.Serve.HealthMaxMissed)
	}
}

func TestAdminKeysRejected(t *testing.T) {
	for _, tc := range []struct{ toml, key string }{
		{`admin_networks = ["10.0.0.0/33"]`, `"serve.admin_networks[0]"`},
		{`admin_networks = ["ok", "127.0.0.1"]`, `"serve.admin_networks[0]"`},
		{`admin_token = "short"`, `"serve.admin_token"`},
		{`health_max_missed = 0`, `"serve.health_max_missed"`},
	} {
		_, err := Load(write(t, "[serve]\n"+tc.toml+"\n"))
		if err == nil || !strings.Contains(err.Error(), tc.key) || !strings.Contains(err.Error(), FileName) {
			t.Errorf("%s: error %v, want one naming %s and the file", tc.toml, err, tc.key)
		}
	}
}
