package kafka

import (
	"context"
	"net"

	"github.com/zombi-dev/zombi/auth"
)

// connInfo is what the connection and the request header tell about a
// client: DescribeGroups reports it per member, member ids start with the
// client id. One per connection (set by serveConn), updated by each request
// on the connection's goroutine.
type connInfo struct {
	clientID string
	host     string // "/" + the client's IP address, as Kafka reports members
	// principal is who the connection authenticated as (zero value: not
	// authenticated, i.e. auth.Anonymous on a PLAINTEXT listener). Set
	// before the connection's first request is read (TLS client
	// certificate) or once its SASL exchange succeeds, before any request
	// past authentication; a re-authentication keeps it.
	principal auth.Principal
	// listener is the listener the connection came in on (its advertised
	// address answers Metadata); nil without a connection (fuzz target).
	listener *listenerInfo
	// sasl is the SASL state of a connection on a SASL listener, else nil.
	sasl *saslConn
}

type connInfoKey struct{}

// newConnInfo returns the connInfo of a connection from remote on li.
func newConnInfo(remote string, li *listenerInfo) *connInfo {
	host := remote
	if h, _, err := net.SplitHostPort(remote); err == nil {
		host = h
	}
	return &connInfo{host: "/" + host, listener: li}
}

// withConnInfo returns ctx carrying ci.
func withConnInfo(ctx context.Context, ci *connInfo) context.Context {
	return context.WithValue(ctx, connInfoKey{}, ci)
}

// connInfoFrom returns the request's connInfo, nil when there is none.
func connInfoFrom(ctx context.Context) *connInfo {
	ci, _ := ctx.Value(connInfoKey{}).(*connInfo)
	return ci
}

// setClientID records the client id of a connection's latest request; it
// allocates only when the id changes, which clients do not do per request.
func (ci *connInfo) setClientID(clientID []byte) {
	if ci != nil && clientID != nil && ci.clientID != string(clientID) {
		ci.clientID = string(clientID)
	}
}

func clientInfoFrom(ctx context.Context) connInfo {
	if ci, ok := ctx.Value(connInfoKey{}).(*connInfo); ok {
		return *ci
	}
	return connInfo{}
}

// principalFrom returns the principal of the request's connection
// (auth.Anonymous when none authenticated).
func principalFrom(ctx context.Context) auth.Principal {
	if ci, ok := ctx.Value(connInfoKey{}).(*connInfo); ok && ci.principal.Name != "" {
		return ci.principal
	}
	return auth.Anonymous
}
