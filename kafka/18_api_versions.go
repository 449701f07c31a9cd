package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// ApiVersions (key 18), v0-v5.
//
// Behavior:
//   - Lists every API in the handler registry with its version range.
//   - A request version above v5 is answered (in conn.go) with a v0 body
//     carrying UNSUPPORTED_VERSION and the list, as Kafka does.
//
// Version notes:
//   - v3+: flexible request; the response header stays v0 (no tags).
//   - v5 (KIP-1082) adds cluster/node ids to the request; ignored.
func init() { register(kmsg.ApiVersions, 0, 5, (*Server).handleApiVersions) }

func (s *Server) handleApiVersions(_ context.Context, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.ApiVersionsRequest)
	return apiVersionsResponse(req.Version, s.cfg.Cluster != nil), nil
}

func apiVersionsResponse(version int16, cluster bool) *kmsg.ApiVersionsResponse {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = version
	for _, a := range sortedAPIs() {
		if !a.advertised(cluster) {
			continue
		}
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = a.key, a.min, a.max
		resp.ApiKeys = append(resp.ApiKeys, k)
	}
	return resp
}
