package auth

import "github.com/twmb/franz-go/pkg/kmsg"

// AuthorizeByResourceType reports whether p, connected from host, may do op
// on at least one resource of type rt: Kafka's
// Authorizer.authorizeByResourceType (KIP-679), which InitProducerId uses so
// that an idempotent producer with WRITE on any topic needs no
// IDEMPOTENT_WRITE on the cluster. As Kafka's default implementation: a
// probe on a hard-coded literal name first (superusers, a wildcard or
// matching prefix ACL, allow.everyone.if.no.acl.found), then any ALLOW for op
// (or ALL) of p or User:* from host or "*" that no DENY dominates: a
// wildcard literal DENY denies everything, a literal DENY its own name, a
// prefixed DENY every name and prefix it starts.
func (s *Service) AuthorizeByResourceType(p Principal, host string, op kmsg.ACLOperation, rt kmsg.ACLResourceType) bool {
	if s.Authorize(p, host, op, rt, "hardcode") {
		return true
	}
	acls, err := s.DescribeACLs(ACLFilter{
		ResourceType: rt,
		PatternType:  kmsg.ACLResourcePatternTypeAny,
		Operation:    kmsg.ACLOperationAny,
		Permission:   kmsg.ACLPermissionTypeAny,
	})
	if err != nil {
		return false
	}
	who, everyone := p.String(), p.Type+":*"
	var allowLiteral, allowPrefixed []string
	wildcardAllow := false
	denyLiteral, denyPrefixed := map[string]bool{}, map[string]bool{}
	for _, a := range acls {
		if a.Host != host && a.Host != "*" || a.Principal != who && a.Principal != everyone ||
			a.Operation != op && a.Operation != kmsg.ACLOperationAll {
			continue
		}
		literal := a.PatternType == kmsg.ACLResourcePatternTypeLiteral
		switch {
		case a.Permission == kmsg.ACLPermissionTypeDeny && literal && a.ResourceName == "*":
			return false
		case a.Permission == kmsg.ACLPermissionTypeDeny && literal:
			denyLiteral[a.ResourceName] = true
		case a.Permission == kmsg.ACLPermissionTypeDeny:
			denyPrefixed[a.ResourceName] = true
		case literal && a.ResourceName == "*":
			wildcardAllow = true
		case literal:
			allowLiteral = append(allowLiteral, a.ResourceName)
		default:
			allowPrefixed = append(allowPrefixed, a.ResourceName)
		}
	}
	if wildcardAllow {
		return true
	}
	dominated := func(name string) bool {
		for i := 1; i <= len(name); i++ {
			if denyPrefixed[name[:i]] {
				return true
			}
		}
		return false
	}
	for _, n := range allowLiteral {
		if !denyLiteral[n] && !dominated(n) {
			return true
		}
	}
	for _, n := range allowPrefixed {
		if !dominated(n) {
			return true
		}
	}
	return false
}
