package kafka

import (
	"crypto/tls"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
)

// SecurityProtocol of a listener, Kafka's names.
type SecurityProtocol string

// The four security protocols of Kafka listeners.
const (
	PlainText     SecurityProtocol = "PLAINTEXT"
	SSL           SecurityProtocol = "SSL"
	SASLPlainText SecurityProtocol = "SASL_PLAINTEXT"
	SASLSSL       SecurityProtocol = "SASL_SSL"
)

func (p SecurityProtocol) valid() bool {
	return p == PlainText || p == SSL || p == SASLPlainText || p == SASLSSL
}

// UsesTLS: the connection starts with a TLS handshake.
func (p SecurityProtocol) UsesTLS() bool { return p == SSL || p == SASLSSL }

// UsesSASL: the connection must authenticate with SASL before any request
// other than ApiVersions and SaslHandshake.
func (p SecurityProtocol) UsesSASL() bool { return p == SASLPlainText || p == SASLSSL }

// Listener describes one listening socket.
type Listener struct {
	Protocol SecurityProtocol
	// Advertised is the "host:port" clients are told for this listener; ""
	// means the bound address (localhost for 0.0.0.0 and ::), with
	// Config.AdvertisedHost and Config.AdvertisedPort overriding host and
	// port when set (they are meant for the single-listener setup).
	Advertised string
	// TLS is required for SSL and SASL_SSL. It is used as is, so a
	// GetCertificate that reloads keeps working without dropping
	// connections. On SSL, a verified client certificate makes the
	// principal User:<subject CN>.
	TLS *tls.Config
}

// ListenerSpec is one entry of a listeners setting
// (ZOMBI_KAFKA_LISTENERS, ZOMBI_KAFKA_ADVERTISED_LISTENERS).
type ListenerSpec struct {
	Protocol SecurityProtocol
	Addr     string // "host:port"; host "" means all interfaces
}

// ParseListeners parses Kafka's listener form, a comma list of
// PROTOCOL://host:port (IPv6 hosts in brackets). Protocols are matched
// case-insensitively and must each appear once (advertised listeners are
// matched to listeners by protocol); ports must be 0-65535 and, except 0
// (any free port), differ.
func ParseListeners(s string) ([]ListenerSpec, error) {
	return parseListeners(s, false)
}

// ParseAdvertisedListeners parses ZOMBI_KAFKA_ADVERTISED_LISTENERS: the
// form of ParseListeners, but ports may repeat (two listeners behind
// different hosts or a proxy, as Kafka allows in advertised.listeners) and
// each entry needs a host and a port other than 0.
func ParseAdvertisedListeners(s string) ([]ListenerSpec, error) {
	return parseListeners(s, true)
}

// MatchAdvertised returns, for each listener, the advertised address
// given for its protocol ("" when none: the listener's own). An
// advertised protocol without a listener is an error.
func MatchAdvertised(listeners, advertised []ListenerSpec) (map[SecurityProtocol]string, error) {
	out := make(map[SecurityProtocol]string, len(listeners))
	for _, l := range listeners {
		out[l.Protocol] = ""
	}
	for _, a := range advertised {
		if _, ok := out[a.Protocol]; !ok {
			return nil, fmt.Errorf("advertised listener %s://%s: no %s listener", a.Protocol, a.Addr, a.Protocol)
		}
		out[a.Protocol] = a.Addr
	}
	return out, nil
}

func parseListeners(s string, advertised bool) ([]ListenerSpec, error) {
	var out []ListenerSpec
	seenProto := map[SecurityProtocol]bool{}
	seenPort := map[int]string{}
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return nil, fmt.Errorf("listener %q: empty entry", s)
		}
		proto, addr, ok := strings.Cut(item, "://")
		if !ok {
			return nil, fmt.Errorf("listener %q: want PROTOCOL://host:port", item)
		}
		p := SecurityProtocol(strings.ToUpper(proto))
		if !p.valid() {
			return nil, fmt.Errorf("listener %q: unknown protocol %q (want PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL)", item, proto)
		}
		host, portStr, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("listener %q: %w", item, err)
		}
		port, err := strconv.Atoi(portStr)
		if err != nil || port < 0 || port > 65535 {
			return nil, fmt.Errorf("listener %q: bad port %q", item, portStr)
		}
		if advertised && (host == "" || port == 0) {
			return nil, fmt.Errorf("advertised listener %q: needs a host and a port other than 0", item)
		}
		if seenProto[p] {
			return nil, fmt.Errorf("listener %q: protocol %s given twice", item, p)
		}
		seenProto[p] = true
		if prev, dup := seenPort[port]; dup && port != 0 && !advertised {
			return nil, fmt.Errorf("listener %q: port %d already used by %s", item, port, prev)
		}
		seenPort[port] = item
		out = append(out, ListenerSpec{Protocol: p, Addr: net.JoinHostPort(host, portStr)})
	}
	return out, nil
}

// listenerInfo is what the connections of one served listener need.
type listenerInfo struct {
	protocol SecurityProtocol
	host     string // advertised
	port     int32  // advertised
	tls      *tls.Config
	name     string // protocol://address, the listener label of zombi_connections
}

// newListenerInfo checks l and resolves its advertised address.
func (s *Server) newListenerInfo(ln net.Listener, l Listener) (*listenerInfo, error) {
	if l.Protocol == "" {
		l.Protocol = PlainText
	}
	if !l.Protocol.valid() {
		return nil, fmt.Errorf("kafka listener %s: unknown security protocol %q", ln.Addr(), l.Protocol)
	}
	if l.Protocol.UsesTLS() && l.TLS == nil {
		return nil, fmt.Errorf("kafka listener %s: %s needs a TLS configuration", ln.Addr(), l.Protocol)
	}
	if l.Protocol.UsesSASL() && s.saslAuth == nil {
		return nil, fmt.Errorf("kafka listener %s: %s needs the auth service (Config.Auth)", ln.Addr(), l.Protocol)
	}
	li := &listenerInfo{protocol: l.Protocol, tls: l.TLS}
	adv := l.Advertised
	explicit := adv != ""
	if !explicit {
		adv = ln.Addr().String()
	}
	host, portStr, err := net.SplitHostPort(adv)
	if err != nil {
		return nil, fmt.Errorf("kafka listener %s: advertised address %q: %w", ln.Addr(), adv, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 || explicit && port == 0 {
		return nil, fmt.Errorf("kafka listener %s: advertised address %q: bad port", ln.Addr(), adv)
	}
	if !explicit {
		if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
			host = "localhost"
		}
		if s.cfg.AdvertisedHost != "" {
			host = s.cfg.AdvertisedHost
		}
		if s.cfg.AdvertisedPort != 0 {
			port = int(s.cfg.AdvertisedPort)
		}
	}
	li.host, li.port = host, int32(port)
	return li, nil
}

// advertisedListeners is Kafka's advertised.listeners of the served
// listeners, PROTOCOL://host:port in protocol order (one per protocol).
func (s *Server) advertisedListeners() string {
	s.mu.Lock()
	out := make([]string, 0, len(s.listeners))
	for _, li := range s.listeners {
		out = append(out, string(li.protocol)+"://"+net.JoinHostPort(li.host, strconv.Itoa(int(li.port))))
	}
	s.mu.Unlock()
	if len(out) == 0 {
		h, p := s.advertised()
		return string(PlainText) + "://" + net.JoinHostPort(h, p)
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}
