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
	// authenticated, i.e. auth.Anonymous on a PLAINTEXT listener).
	principal auth.Principal
}

type connInfoKey struct{}

// withConnInfo returns ctx carrying the connection's remote address.
func withConnInfo(ctx context.Context, remote string) context.Context {
	host := remote
	if h, _, err := net.SplitHostPort(remote); err == nil {
		host = h
	}
	return context.WithValue(ctx, connInfoKey{}, &connInfo{host: "/" + host})
}

// setClientID records the client id of a connection's latest request; it
// allocates only when the id changes, which clients do not do per request.
func setClientID(ctx context.Context, clientID []byte) {
	if ci, ok := ctx.Value(connInfoKey{}).(*connInfo); ok && clientID != nil && ci.clientID != string(clientID) {
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
