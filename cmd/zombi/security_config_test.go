package main

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestConfigSecurityDefaults(t *testing.T) {
	c, err := loadConfig(nil, envOf(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	want := []listenerConfig{{Protocol: "PLAINTEXT", Addr: "0.0.0.0:9092"}}
	if !slices.Equal(c.KafkaListeners, want) {
		t.Errorf("listeners %+v, want %+v", c.KafkaListeners, want)
	}
	if !slices.Equal(c.SASLMechanisms, []string{"SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"}) {
		t.Errorf("mechanisms %v", c.SASLMechanisms)
	}
	if !slices.Equal(c.HTTPPublicPaths, []string{"/health"}) {
		t.Errorf("public paths %v", c.HTTPPublicPaths)
	}
	if c.Authorization != "auto" || c.AuthorizationOn() || c.Authenticates() || c.AllowEveryoneIfNoACL || c.HTTPTLS ||
		c.TLS.ClientAuth != "none" || c.FailedAuthDelay != 100*time.Millisecond || c.AuthTimeout != 10*time.Second ||
		c.ReauthMax != 0 || c.SASLMaxReceiveBytes != 524288 || c.MaxConnections != 65536 || c.MaxConnectionsPerIP != 0 ||
		len(c.BootstrapUsers) != 0 || len(c.Superusers) != 0 {
		t.Errorf("security defaults: %+v", c)
	}
	if w := c.exposureWarning(); !strings.Contains(w, "without authentication") {
		t.Errorf("0.0.0.0 without auth: warning %q", w)
	}
}

func TestConfigSecurityValid(t *testing.T) {
	cases := []struct {
		name  string
		env   map[string]string
		check func(t *testing.T, c Config)
	}{
		{"old port settings still make the one listener", map[string]string{"ZOMBI_HOST": "127.0.0.1", "ZOMBI_KAFKA_PORT": "19092", "ZOMBI_KAFKA_ADVERTISED_PORT": "29092"}, func(t *testing.T, c Config) {
			if len(c.KafkaListeners) != 1 || c.KafkaListeners[0].Addr != "127.0.0.1:19092" || c.KafkaAdvPort != 29092 {
				t.Errorf("%+v", c.KafkaListeners)
			}
			if c.exposureWarning() != "" {
				t.Errorf("loopback only: warning %q", c.exposureWarning())
			}
		}},
		{"several listeners, advertised by protocol, placeholders", map[string]string{
			"ZOMBI_HOST":                       "::1",
			"ZOMBI_KAFKA_PORT":                 "9000",
			"ZOMBI_KAFKA_LISTENERS":            "plaintext://127.0.0.1:9092, SASL_SSL://0.0.0.0:9093,SASL_PLAINTEXT://{ZOMBI_HOST}:{ZOMBI_KAFKA_PORT}",
			"ZOMBI_KAFKA_ADVERTISED_LISTENERS": "SASL_SSL://kafka.example.com:443",
			"ZOMBI_TLS_CERT_FILE":              "/c.pem", "ZOMBI_TLS_KEY_FILE": "/k.pem",
			"ZOMBI_SUPERUSERS": "admin, User:ops",
		}, func(t *testing.T, c Config) {
			want := []listenerConfig{
				{Protocol: "PLAINTEXT", Addr: "127.0.0.1:9092"},
				{Protocol: "SASL_SSL", Addr: "0.0.0.0:9093", Advertised: "kafka.example.com:443"},
				{Protocol: "SASL_PLAINTEXT", Addr: "[::1]:9000"},
			}
			if !slices.Equal(c.KafkaListeners, want) {
				t.Errorf("listeners %+v", c.KafkaListeners)
			}
			if !c.Authenticates() || !c.AuthorizationOn() || !c.HasSASLListener() || !c.UsesTLS() {
				t.Errorf("a SASL listener authenticates and turns ACLs on (auto)")
			}
			if !slices.Equal(c.Superusers, []string{"admin", "ops"}) {
				t.Errorf("superusers %v", c.Superusers)
			}
			if c.exposureWarning() != "" {
				t.Errorf("authenticating: warning %q", c.exposureWarning())
			}
		}},
		{"advertised ports may repeat behind different hosts", map[string]string{
			"ZOMBI_KAFKA_LISTENERS":            "PLAINTEXT://127.0.0.1:9092,SASL_PLAINTEXT://127.0.0.1:9093",
			"ZOMBI_KAFKA_ADVERTISED_LISTENERS": "PLAINTEXT://a.example:9092,SASL_PLAINTEXT://b.example:9092",
			"ZOMBI_AUTHORIZATION":              "off",
		}, func(t *testing.T, c Config) {
			if c.KafkaListeners[0].Advertised != "a.example:9092" || c.KafkaListeners[1].Advertised != "b.example:9092" {
				t.Errorf("%+v", c.KafkaListeners)
			}
		}},
		{"bootstrap users, password with ':'", map[string]string{"ZOMBI_BOOTSTRAP_USERS": "alice:s3cr:et, bob:pw"}, func(t *testing.T, c Config) {
			if len(c.BootstrapUsers) != 2 || c.BootstrapUsers[0].Name != "alice" || c.BootstrapUsers[0].Password != "s3cr:et" ||
				c.BootstrapUsers[1].Name != "bob" || c.BootstrapUsers[1].Password != "pw" {
				t.Errorf("users %d", len(c.BootstrapUsers))
			}
		}},
		{"client CA with auth none is fine", map[string]string{"ZOMBI_TLS_CERT_FILE": "/c", "ZOMBI_TLS_KEY_FILE": "/k", "ZOMBI_TLS_CLIENT_CA_FILE": "/ca"}, nil},
		{"SSL with required client certificates authenticates", map[string]string{
			"ZOMBI_KAFKA_LISTENERS": "SSL://127.0.0.1:9093", "ZOMBI_TLS_CERT_FILE": "/c", "ZOMBI_TLS_KEY_FILE": "/k",
			"ZOMBI_TLS_CLIENT_CA_FILE": "/ca", "ZOMBI_TLS_CLIENT_AUTH": "required", "ZOMBI_SUPERUSERS": "admin",
		}, func(t *testing.T, c Config) {
			if !c.Authenticates() || !c.AuthorizationOn() || c.HasSASLListener() {
				t.Errorf("SSL + required: authenticates %v, authorization %v", c.Authenticates(), c.AuthorizationOn())
			}
		}},
		{"authorization off needs no superuser", map[string]string{"ZOMBI_KAFKA_LISTENERS": "SASL_PLAINTEXT://127.0.0.1:9092", "ZOMBI_AUTHORIZATION": "off"}, func(t *testing.T, c Config) {
			if c.AuthorizationOn() || !c.Authenticates() {
				t.Error("off is off")
			}
		}},
		{"mechanisms, public paths, limits", map[string]string{
			"ZOMBI_SASL_MECHANISMS": "scram-sha-512", "ZOMBI_HTTP_PUBLIC_PATHS": "/health,/metrics", "ZOMBI_FAILED_AUTH_DELAY_MS": "0",
			"ZOMBI_AUTH_TIMEOUT_MS": "500", "ZOMBI_CONNECTIONS_MAX_REAUTH_MS": "60000", "ZOMBI_SASL_MAX_RECEIVE_BYTES": "1024",
			"ZOMBI_MAX_CONNECTIONS": "10", "ZOMBI_MAX_CONNECTIONS_PER_IP": "2", "ZOMBI_ALLOW_EVERYONE_IF_NO_ACL_FOUND": "true",
		}, func(t *testing.T, c Config) {
			if !slices.Equal(c.SASLMechanisms, []string{"SCRAM-SHA-512"}) || !slices.Equal(c.HTTPPublicPaths, []string{"/health", "/metrics"}) ||
				c.FailedAuthDelay != 0 || c.AuthTimeout != 500*time.Millisecond || c.ReauthMax != time.Minute || c.SASLMaxReceiveBytes != 1024 ||
				c.MaxConnections != 10 || c.MaxConnectionsPerIP != 2 || !c.AllowEveryoneIfNoACL {
				t.Errorf("%+v", c)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadConfig(nil, envOf(tc.env), &bytes.Buffer{})
			if err != nil {
				t.Fatal(err)
			}
			if tc.check != nil {
				tc.check(t, c)
			}
		})
	}
}

func TestConfigSecurityErrorsNameTheSetting(t *testing.T) {
	cert := map[string]string{"ZOMBI_TLS_CERT_FILE": "/c.pem", "ZOMBI_TLS_KEY_FILE": "/k.pem"}
	with := func(base map[string]string, kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	cases := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"certificate without key", map[string]string{"ZOMBI_TLS_CERT_FILE": "/c.pem"}, "ZOMBI_TLS_KEY_FILE"},
		{"key without certificate", map[string]string{"ZOMBI_TLS_KEY_FILE": "/k.pem"}, "ZOMBI_TLS_CERT_FILE"},
		{"SSL listener without certificate", map[string]string{"ZOMBI_KAFKA_LISTENERS": "SSL://127.0.0.1:9093"}, "ZOMBI_TLS_CERT_FILE"},
		{"SASL_SSL listener without certificate", map[string]string{"ZOMBI_KAFKA_LISTENERS": "SASL_SSL://127.0.0.1:9093", "ZOMBI_SUPERUSERS": "a"}, "ZOMBI_TLS_CERT_FILE"},
		{"HTTPS without certificate", map[string]string{"ZOMBI_HTTP_TLS": "true"}, "ZOMBI_TLS_CERT_FILE"},
		{"client auth required without CA", with(cert, "ZOMBI_TLS_CLIENT_AUTH", "required"), "ZOMBI_TLS_CLIENT_CA_FILE"},
		{"client auth unknown", with(cert, "ZOMBI_TLS_CLIENT_AUTH", "always"), "ZOMBI_TLS_CLIENT_AUTH"},
		{"SASL listener, ACLs auto, no superuser", map[string]string{"ZOMBI_KAFKA_LISTENERS": "SASL_PLAINTEXT://127.0.0.1:9092"}, "ZOMBI_SUPERUSERS"},
		{"ACLs on, no superuser", map[string]string{"ZOMBI_AUTHORIZATION": "on"}, "ZOMBI_SUPERUSERS"},
		{"authorization unknown", map[string]string{"ZOMBI_AUTHORIZATION": "sometimes"}, "ZOMBI_AUTHORIZATION"},
		{"unknown mechanism", map[string]string{"ZOMBI_SASL_MECHANISMS": "SCRAM-SHA-256,GSSAPI"}, "ZOMBI_SASL_MECHANISMS"},
		{"no mechanism", map[string]string{"ZOMBI_SASL_MECHANISMS": " , "}, "ZOMBI_SASL_MECHANISMS"},
		{"unknown listener protocol", map[string]string{"ZOMBI_KAFKA_LISTENERS": "TLS://127.0.0.1:9093"}, "ZOMBI_KAFKA_LISTENERS"},
		{"listener without port", map[string]string{"ZOMBI_KAFKA_LISTENERS": "PLAINTEXT://127.0.0.1"}, "ZOMBI_KAFKA_LISTENERS"},
		{"listener protocol twice", map[string]string{"ZOMBI_KAFKA_LISTENERS": "PLAINTEXT://127.0.0.1:1,PLAINTEXT://127.0.0.1:2"}, "ZOMBI_KAFKA_LISTENERS"},
		{"listener port twice", map[string]string{"ZOMBI_KAFKA_LISTENERS": "PLAINTEXT://127.0.0.1:1,SSL://0.0.0.0:1"}, "ZOMBI_KAFKA_LISTENERS"},
		{"advertised for a missing listener", map[string]string{"ZOMBI_KAFKA_ADVERTISED_LISTENERS": "SSL://example.com:9093"}, "ZOMBI_KAFKA_ADVERTISED_LISTENERS"},
		{"advertised without host", map[string]string{"ZOMBI_KAFKA_ADVERTISED_LISTENERS": "PLAINTEXT://:9092"}, "ZOMBI_KAFKA_ADVERTISED_LISTENERS"},
		{"advertised port with several listeners", map[string]string{"ZOMBI_KAFKA_LISTENERS": "PLAINTEXT://127.0.0.1:1,SSL://127.0.0.1:2", "ZOMBI_KAFKA_ADVERTISED_PORT": "3"}, "ZOMBI_KAFKA_ADVERTISED_PORT"},
		{"superuser name", map[string]string{"ZOMBI_SUPERUSERS": "a b"}, "ZOMBI_SUPERUSERS"},
		{"public path without /", map[string]string{"ZOMBI_HTTP_PUBLIC_PATHS": "health"}, "ZOMBI_HTTP_PUBLIC_PATHS"},
		{"failed auth delay", map[string]string{"ZOMBI_FAILED_AUTH_DELAY_MS": "-1"}, "ZOMBI_FAILED_AUTH_DELAY_MS"},
		{"auth timeout", map[string]string{"ZOMBI_AUTH_TIMEOUT_MS": "0"}, "ZOMBI_AUTH_TIMEOUT_MS"},
		{"reauth", map[string]string{"ZOMBI_CONNECTIONS_MAX_REAUTH_MS": "soon"}, "ZOMBI_CONNECTIONS_MAX_REAUTH_MS"},
		{"max receive", map[string]string{"ZOMBI_SASL_MAX_RECEIVE_BYTES": "3"}, "ZOMBI_SASL_MAX_RECEIVE_BYTES"},
		{"max connections", map[string]string{"ZOMBI_MAX_CONNECTIONS": "0"}, "ZOMBI_MAX_CONNECTIONS"},
		{"max connections per ip", map[string]string{"ZOMBI_MAX_CONNECTIONS_PER_IP": "-2"}, "ZOMBI_MAX_CONNECTIONS_PER_IP"},
		{"http tls not a bool", map[string]string{"ZOMBI_HTTP_TLS": "yes please"}, "ZOMBI_HTTP_TLS"},
		{"allow everyone not a bool", map[string]string{"ZOMBI_ALLOW_EVERYONE_IF_NO_ACL_FOUND": "maybe"}, "ZOMBI_ALLOW_EVERYONE_IF_NO_ACL_FOUND"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadConfig(nil, envOf(tc.env), &bytes.Buffer{})
			if err == nil {
				t.Fatal("loadConfig accepted it")
			}
			if msg := err.Error(); !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
				t.Fatalf("error %q should be one line naming %s", msg, tc.want)
			}
		})
	}
}

func TestConfigBootstrapUsersNeverEchoed(t *testing.T) {
	const pw = "Hunter2-very-secret"
	bad := []string{
		"alice" + pw,            // no ':'
		":" + pw,                // no user
		"alice:" + pw + ",bob:", // empty password
		"alice:" + pw + ",bad user:" + pw,
		"alice:" + pw + ",alice:" + pw,
	}
	for _, v := range bad {
		_, err := loadConfig(nil, envOf(map[string]string{"ZOMBI_BOOTSTRAP_USERS": v}), &bytes.Buffer{})
		if err == nil {
			t.Errorf("accepted a malformed ZOMBI_BOOTSTRAP_USERS")
			continue
		}
		if msg := err.Error(); strings.Contains(msg, pw) || !strings.Contains(msg, "ZOMBI_BOOTSTRAP_USERS") {
			t.Errorf("error %q must name the setting and not echo the password", msg)
		}
	}
	// Printing the config (as tests and debug logs do) redacts passwords.
	c, err := loadConfig([]string{"--bootstrap-users", "alice:" + pw}, envOf(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		if s := fmt.Sprintf(f, c); strings.Contains(s, pw) {
			t.Errorf("fmt %s of the config shows the password", f)
		}
	}
}
