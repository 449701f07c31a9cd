package kafka

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Requests Zombi does not implement (conn.go): an API key kmsg knows but
// no handler registers (broker-to-controller APIs, share groups, KIP-848,
// delegation tokens...), or a version above the handler's range that kmsg
// can still decode, is answered at once with its own response kind, every
// error code UNSUPPORTED_VERSION (35) and, where the version has one, a
// message naming the API. The response mirrors the request (the topics,
// partitions, groups... it names, each with the error), so that clients that
// look for their items find them.
//
// Kafka closes the connection instead (SocketServer: "Received request api
// key ... which is not enabled"). Zombi answers because a closed connection
// looks like a network failure, which clients retry until their timeouts,
// while UNSUPPORTED_VERSION is final: the caller fails at once (DESIGN.md:
// "a client that asks for a version Zombi does not support gets
// UNSUPPORTED_VERSION, never a hang"). Clients that read ApiVersions first
// never send these requests. What cannot be answered is still closed, as
// Kafka does: an API key kmsg does not know, or a version above what kmsg
// decodes (neither the body nor the response format the client expects is
// known), or a body that does not decode.

// maxMirrored bounds the items an unsupported request's response mirrors:
// a small frame of empty array entries must not become a huge response.
const maxMirrored = 10000

// unsupportedResponse answers req (decoded) with UNSUPPORTED_VERSION.
func unsupportedResponse(req kmsg.Request, implemented bool, minV, maxV int16) kmsg.Response {
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	msg := fmt.Sprintf("Zombi does not implement %s", kmsg.NameForKey(req.Key()))
	if implemented {
		msg = fmt.Sprintf("Zombi implements %s v%d-v%d, not v%d", kmsg.NameForKey(req.Key()), minV, maxV, req.GetVersion())
	}
	budget := maxMirrored
	mirrorUnsupported(reflect.ValueOf(resp).Elem(), reflect.ValueOf(req).Elem(), &msg, &budget, 0)
	return resp
}

// mirrorUnsupported fills the response struct dst from the request struct
// src (invalid: none): every ErrorCode is UNSUPPORTED_VERSION, every
// ErrorMessage msg, fields named and typed as in the request are copied,
// and arrays of the response named as arrays of the request get one entry
// per request entry (an entry of a request array of scalars, such as
// Partitions []int32, goes to the response entry's field of the singular
// name, Partition).
func mirrorUnsupported(dst, src reflect.Value, msg *string, budget *int, depth int) {
	if depth > 6 {
		return
	}
	t := dst.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() || f.Name == "Version" {
			continue
		}
		d := dst.Field(i)
		switch {
		case f.Name == "ErrorCode" && d.Kind() == reflect.Int16:
			d.SetInt(int64(errUnsupportedVersion))
			continue
		case f.Name == "ErrorMessage" && d.Kind() == reflect.String:
			d.SetString(*msg)
			continue
		case f.Name == "ErrorMessage" && d.Type() == reflect.TypeFor[*string]():
			d.Set(reflect.ValueOf(msg))
			continue
		}
		var s reflect.Value
		if src.IsValid() {
			s = src.FieldByName(f.Name)
		}
		switch d.Kind() {
		case reflect.Struct:
			if s.IsValid() && s.Kind() != reflect.Struct {
				s = reflect.Value{}
			}
			mirrorUnsupported(d, s, msg, budget, depth+1)
		case reflect.Slice:
			if d.Type().Elem().Kind() != reflect.Struct || !s.IsValid() || s.Kind() != reflect.Slice {
				continue
			}
			n := min(s.Len(), *budget)
			*budget -= n
			out := reflect.MakeSlice(d.Type(), n, n)
			for j := range n {
				e := out.Index(j)
				if def := e.Addr().MethodByName("Default"); def.IsValid() {
					def.Call(nil)
				}
				se := s.Index(j)
				if se.Kind() == reflect.Struct {
					mirrorUnsupported(e, se, msg, budget, depth+1)
					continue
				}
				if ef := e.FieldByName(strings.TrimSuffix(f.Name, "s")); ef.IsValid() && ef.Type() == se.Type() {
					ef.Set(se)
				}
				mirrorUnsupported(e, reflect.Value{}, msg, budget, depth+1)
			}
			d.Set(out)
		default:
			if s.IsValid() && s.Type() == d.Type() {
				d.Set(s)
			}
		}
	}
}
