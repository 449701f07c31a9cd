package cluster

import (
	"fmt"
	"log/slog"
	"strings"
)

// redacted stands for ZOMBI_ETCD_PASSWORD wherever a Config is printed.
const redacted = "[redacted]"

// plainConfig is Config without its methods, so that String can format
// the fields without calling itself.
type plainConfig Config

// String prints the settings with the password redacted: fmt calls it for
// %v and %+v, also when the Config is a field of a larger struct.
func (c Config) String() string {
	if c.Password != "" {
		c.Password = redacted
	}
	return fmt.Sprintf("%+v", plainConfig(c))
}

// GoString is String for %#v.
func (c Config) GoString() string { return "cluster.Config" + c.String() }

// LogValue is what slog prints for a Config: the settings an operator
// checks, never the password.
func (c Config) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("endpoints", strings.Join(c.Endpoints, ",")),
		slog.String("name", c.Name),
		slog.Int("node_id", int(c.NodeID)),
		slog.String("rack", c.Rack),
		slog.Duration("session_timeout", c.SessionTimeout),
	}
	if c.Username != "" {
		attrs = append(attrs, slog.String("username", c.Username))
	}
	return slog.GroupValue(attrs...)
}
