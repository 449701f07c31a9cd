package main

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/zombi-dev/zombi/kafka"
	"github.com/zombi-dev/zombi/tlsconf"
)

// defaultListeners is ZOMBI_KAFKA_LISTENERS's default; the placeholders are
// replaced in any value, so that tests and scripts can say
// SASL_PLAINTEXT://{ZOMBI_HOST}:{ZOMBI_KAFKA_PORT}.
const defaultListeners = "PLAINTEXT://{ZOMBI_HOST}:{ZOMBI_KAFKA_PORT}"

// listenerConfig is one Kafka listener as configured.
type listenerConfig struct {
	Protocol   string // PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL
	Addr       string // host:port to bind
	Advertised string // host:port from ZOMBI_KAFKA_ADVERTISED_LISTENERS, "" = derived
}

func (l listenerConfig) usesTLS() bool  { return kafka.SecurityProtocol(l.Protocol).UsesTLS() }
func (l listenerConfig) usesSASL() bool { return kafka.SecurityProtocol(l.Protocol).UsesSASL() }
func (l listenerConfig) String() string { return l.Protocol + "://" + l.Addr }

// secret is a value that must never be printed: fmt shows it redacted,
// also inside %+v of a Config.
type secret string

func (secret) String() string   { return "[redacted]" }
func (secret) GoString() string { return "[redacted]" }

// bootstrapUser is one entry of ZOMBI_BOOTSTRAP_USERS.
type bootstrapUser struct {
	Name     string
	Password secret
}

var knownMechanisms = []string{"SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"}

func setMechanisms(c *Config, v string) error {
	c.SASLMechanisms = nil
	for _, m := range strings.Split(v, ",") {
		m = strings.ToUpper(strings.TrimSpace(m))
		if m == "" {
			continue
		}
		known := false
		for _, k := range knownMechanisms {
			known = known || m == k
		}
		if !known {
			return fmt.Errorf("unknown mechanism %q (known: %s)", m, strings.Join(knownMechanisms, ", "))
		}
		for _, have := range c.SASLMechanisms {
			if have == m {
				return fmt.Errorf("mechanism %s given twice", m)
			}
		}
		c.SASLMechanisms = append(c.SASLMechanisms, m)
	}
	if len(c.SASLMechanisms) == 0 {
		return fmt.Errorf("no mechanism (known: %s)", strings.Join(knownMechanisms, ", "))
	}
	return nil
}

// setBootstrapUsers parses user:password[,user:password...]; the password is
// everything after the first ':' (it may hold ':', not ','). Errors never
// quote the value: it holds passwords.
func setBootstrapUsers(c *Config, v string) error {
	c.BootstrapUsers = nil
	if strings.TrimSpace(v) == "" {
		return nil
	}
	seen := map[string]bool{}
	for i, entry := range strings.Split(v, ",") {
		name, pw, ok := strings.Cut(entry, ":")
		name = strings.TrimSpace(name)
		switch {
		case !ok:
			return fmt.Errorf("entry %d has no ':' (want user:password)", i+1)
		case name == "":
			return fmt.Errorf("entry %d has an empty user name (want user:password)", i+1)
		case pw == "":
			return fmt.Errorf("entry %d (user %q) has an empty password", i+1, name)
		case !validUserName(name):
			return fmt.Errorf("entry %d: user name %q: control characters are not allowed", i+1, name)
		case seen[name]:
			return fmt.Errorf("user %q given twice", name)
		}
		seen[name] = true
		c.BootstrapUsers = append(c.BootstrapUsers, bootstrapUser{Name: name, Password: secret(pw)})
	}
	return nil
}

// splitNames parses a comma list of user names; "User:alice" (Kafka's
// super.users form) is accepted for "alice".
func splitNames(v string) ([]string, error) {
	var out []string
	for _, n := range strings.Split(v, ",") {
		n = strings.TrimPrefix(strings.TrimSpace(n), "User:")
		if n == "" {
			continue
		}
		if !validUserName(n) {
			return nil, fmt.Errorf("user name %q: control characters are not allowed", n)
		}
		out = append(out, n)
	}
	return out, nil
}

// validUserName accepts what Kafka accepts in a principal name (a client
// certificate CN may hold spaces), except control characters; ',' cannot
// occur: it separates the list.
func validUserName(n string) bool {
	if n == "" || len(n) > 256 || !utf8.ValidString(n) {
		return false
	}
	for _, c := range n {
		if unicode.IsControl(c) {
			return false
		}
	}
	return true
}

// parseListenerList parses PROTOCOL://host:port[,...] with the Kafka
// door's parser (each protocol at most once: advertised listeners are
// matched by protocol).
func parseListenerList(s string) ([]listenerConfig, error) {
	specs, err := kafka.ParseListeners(s)
	if err != nil {
		return nil, err
	}
	out := make([]listenerConfig, len(specs))
	for i, sp := range specs {
		out[i] = listenerConfig{Protocol: string(sp.Protocol), Addr: sp.Addr}
	}
	return out, nil
}

// resolveSecurity builds the listeners and checks the security settings
// against each other. Each error is one line naming the setting to fix.
// What needs the user store (a SASL listener with no user) is checked in
// run, after the log is open.
func (c *Config) resolveSecurity() error {
	raw := c.kafkaListenersRaw
	if raw == "" {
		raw = defaultListeners
	}
	raw = strings.NewReplacer("{ZOMBI_HOST}", hostForURL(c.Host), "{ZOMBI_KAFKA_PORT}", strconv.Itoa(c.KafkaPort)).Replace(raw)
	ls, err := parseListenerList(raw)
	if err != nil {
		return fmt.Errorf("invalid ZOMBI_KAFKA_LISTENERS: %w", err)
	}
	if c.kafkaAdvertisedRaw != "" {
		adv, err := kafka.ParseAdvertisedListeners(c.kafkaAdvertisedRaw)
		if err != nil {
			return fmt.Errorf("invalid ZOMBI_KAFKA_ADVERTISED_LISTENERS: %w", err)
		}
		specs := make([]kafka.ListenerSpec, len(ls))
		for i, l := range ls {
			specs[i] = kafka.ListenerSpec{Protocol: kafka.SecurityProtocol(l.Protocol), Addr: l.Addr}
		}
		byProto, err := kafka.MatchAdvertised(specs, adv)
		if err != nil {
			return fmt.Errorf("invalid ZOMBI_KAFKA_ADVERTISED_LISTENERS: %w", err)
		}
		for i := range ls {
			ls[i].Advertised = byProto[kafka.SecurityProtocol(ls[i].Protocol)]
		}
	}
	if c.KafkaAdvPort != 0 && len(ls) > 1 {
		return fmt.Errorf("ZOMBI_KAFKA_ADVERTISED_PORT applies to a single listener; with %d listeners use ZOMBI_KAFKA_ADVERTISED_LISTENERS", len(ls))
	}
	c.KafkaListeners = ls

	if err := c.TLS.Check(); err != nil {
		return err
	}
	if !c.TLS.HasCertificate() {
		for _, l := range ls {
			if l.usesTLS() {
				return fmt.Errorf("ZOMBI_KAFKA_LISTENERS has %s but %s and %s are not set", l, tlsconf.EnvCertFile, tlsconf.EnvKeyFile)
			}
		}
		if c.HTTPTLS {
			return fmt.Errorf("ZOMBI_HTTP_TLS=true but %s and %s are not set", tlsconf.EnvCertFile, tlsconf.EnvKeyFile)
		}
	}
	if c.AuthorizationOn() && len(c.Superusers) == 0 {
		why := "ZOMBI_AUTHORIZATION=on"
		if c.Authorization == "auto" {
			why = "ZOMBI_AUTHORIZATION=auto and " + c.authenticatingDoor() + " authenticates"
		}
		return fmt.Errorf("ZOMBI_SUPERUSERS is empty but ACLs are enforced (%s): name at least one superuser, or set ZOMBI_AUTHORIZATION=off", why)
	}
	return nil
}

// hostForURL brackets an IPv6 literal for host:port forms.
func hostForURL(h string) string {
	if strings.Contains(h, ":") && !strings.HasPrefix(h, "[") {
		return "[" + h + "]"
	}
	return h
}

// HasSASLListener reports whether any Kafka listener is SASL_PLAINTEXT or
// SASL_SSL.
func (c Config) HasSASLListener() bool {
	for _, l := range c.KafkaListeners {
		if l.usesSASL() {
			return true
		}
	}
	return false
}

// UsesTLS reports whether anything serves TLS (and so needs the certificate).
func (c Config) UsesTLS() bool {
	if c.HTTPTLS {
		return true
	}
	for _, l := range c.KafkaListeners {
		if l.usesTLS() {
			return true
		}
	}
	return false
}

// authenticatingDoor names the first door that authenticates its clients:
// a SASL listener, or a TLS door that requires client certificates. "" when
// none does.
func (c Config) authenticatingDoor() string {
	for _, l := range c.KafkaListeners {
		if l.usesSASL() || l.Protocol == string(kafka.SSL) && c.TLS.RequiresClientCert() {
			return "listener " + l.String()
		}
	}
	if c.HTTPTLS && c.TLS.RequiresClientCert() {
		return "HTTPS with ZOMBI_TLS_CLIENT_AUTH=required"
	}
	return ""
}

// Authenticates reports whether some door authenticates its clients; then
// the REST API requires credentials too.
func (c Config) Authenticates() bool { return c.authenticatingDoor() != "" }

// AuthorizationOn resolves ZOMBI_AUTHORIZATION: auto means on whenever a
// door authenticates.
func (c Config) AuthorizationOn() bool {
	switch c.Authorization {
	case "on":
		return true
	case "off":
		return false
	}
	return c.Authenticates()
}

// exposureWarning is the one start-up warning of a server that listens
// beyond loopback while nothing authenticates, or whose non-authenticating
// listeners do so with ACLs off; "" otherwise.
func (c Config) exposureWarning() string {
	authenticates := c.Authenticates()
	if authenticates && c.AuthorizationOn() {
		return "" // ANONYMOUS is under the ACLs
	}
	var open []string
	if !authenticates && !isLoopback(c.Host) {
		open = append(open, "HTTP on "+net.JoinHostPort(c.Host, strconv.Itoa(c.Port)))
	}
	for _, l := range c.KafkaListeners {
		if l.usesSASL() || l.Protocol == string(kafka.SSL) && c.TLS.RequiresClientCert() {
			continue
		}
		if host, _, _ := net.SplitHostPort(l.Addr); !isLoopback(host) {
			open = append(open, "Kafka "+l.String())
		}
	}
	if len(open) == 0 {
		return ""
	}
	return "listening beyond loopback without authentication: anyone who can reach " + strings.Join(open, ", ") +
		" can read, write and delete everything (use a SASL listener, see README Security)"
}

// cleartextWarning is the start-up warning of a REST API that takes
// passwords and tokens over plain HTTP beyond loopback; "" otherwise.
func (c Config) cleartextWarning() string {
	if !c.Authenticates() || c.HTTPTLS || isLoopback(c.Host) {
		return ""
	}
	return "the REST API on " + net.JoinHostPort(c.Host, strconv.Itoa(c.Port)) +
		" takes passwords (HTTP Basic) and bearer tokens over plain HTTP beyond loopback: set ZOMBI_HTTP_TLS=true"
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}
