package kafka

import (
	"context"
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// handlerFunc handles one decoded request. A nil response sends nothing
// (acks=0 produce); an error closes the connection (a protocol violation).
// Problems with a topic or partition are error codes in the response.
type handlerFunc func(s *Server, ctx context.Context, req kmsg.Request) (kmsg.Response, error)

type api struct {
	key      int16
	min, max int16
	fn       handlerFunc
	m        *apiMetrics
	// clusterOnly APIs are advertised in cluster mode only (broker to
	// broker); on one node their handler answers UNSUPPORTED_VERSION.
	clusterOnly bool
}

// apis is the registry of implemented APIs. Each handler file registers
// itself with its version range in an init function; ApiVersions is built
// from this registry, so what is advertised is what is implemented. A
// request above max, or of an API not registered here, is answered with
// UNSUPPORTED_VERSION when kmsg can decode it and closes the connection
// when it cannot (unsupported.go); one below min still reaches the handler,
// which answers it with UNSUPPORTED_VERSION error codes.
var apis = map[int16]api{}

func register(key kmsg.Key, minVersion, maxVersion int16, fn handlerFunc) {
	k := key.Int16()
	if _, dup := apis[k]; dup {
		panic(fmt.Sprintf("kafka: api %s registered twice", kmsg.NameForKey(k)))
	}
	if maxVersion > kmsg.RequestForKey(k).MaxVersion() {
		panic(fmt.Sprintf("kafka: api %s v%d beyond what kmsg knows", kmsg.NameForKey(k), maxVersion))
	}
	apis[k] = api{key: k, min: minVersion, max: maxVersion, fn: fn, m: newAPIMetrics(k)}
}

// registerClusterOnly registers a broker-to-broker API that only cluster
// mode advertises (WriteTxnMarkers).
func registerClusterOnly(key kmsg.Key, minVersion, maxVersion int16, fn handlerFunc) {
	register(key, minVersion, maxVersion, fn)
	a := apis[key.Int16()]
	a.clusterOnly = true
	apis[key.Int16()] = a
}

// advertised reports whether ApiVersions lists a (cluster: cluster mode).
func (a api) advertised(cluster bool) bool { return cluster || !a.clusterOnly }

// sortedAPIs returns the registry ordered by key.
func sortedAPIs() []api {
	out := make([]api, 0, len(apis))
	for _, a := range apis {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}
