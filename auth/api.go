// Package auth is Zombi's security core, shared by both doors: users stored
// as SCRAM credentials, SASL authentication (SCRAM-SHA-256, SCRAM-SHA-512,
// PLAIN), HTTP bearer tokens and Kafka's ACL authorizer. The Kafka door and
// the REST API ask it; neither re-implements a check.
package auth

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Principal is who a connection or request acts as, in Kafka's form
// "User:name".
type Principal struct {
	Type string // "User"
	Name string
}

// User returns the principal User:name.
func User(name string) Principal { return Principal{Type: "User", Name: name} }

// Anonymous is the principal of an unauthenticated connection (Kafka's
// User:ANONYMOUS), e.g. on a PLAINTEXT listener.
var Anonymous = User("ANONYMOUS")

func (p Principal) String() string { return p.Type + ":" + p.Name }

// SASL mechanism names.
const (
	ScramSHA256 = "SCRAM-SHA-256"
	ScramSHA512 = "SCRAM-SHA-512"
	Plain       = "PLAIN"
)

// DefaultIterations is the SCRAM iteration count of credentials made from a
// password here (bootstrap users, zombi user create); Kafka's minimum.
const DefaultIterations = 4096

// Errors callers map to Kafka error codes and HTTP statuses.
var (
	// ErrAuthFailed is the one generic authentication failure, the same
	// whether or not the user exists (returned after Config.FailedAuthDelay).
	ErrAuthFailed = errors.New("authentication failed: invalid credentials")
	// ErrUnsupportedMechanism: the SASL mechanism is not enabled.
	ErrUnsupportedMechanism = errors.New("unsupported SASL mechanism")
	// ErrNoCredential: deleting a credential that does not exist.
	ErrNoCredential = errors.New("no such credential")
	// ErrInvalid: a malformed user name, iteration count, ACL or token.
	ErrInvalid = errors.New("invalid request")
	// ErrStorage: the durable store failed; nothing changed.
	ErrStorage = errors.New("auth storage error")
	// ErrNotFound: revoking a token that does not exist.
	ErrNotFound = errors.New("not found")
)

// Store is the durable key-value space auth keeps its state in (users,
// ACLs, tokens). Put and Delete are durable when they return. LogStore
// adapts the partition log's RocksDB; NewMemStore is for unit tests.
type Store interface {
	Get(key string) ([]byte, error) // nil, nil when absent
	Put(key string, v []byte) error
	Delete(key string) error
	List(prefix string) ([]KV, error) // in key order
}

// KV is one stored entry.
type KV struct {
	Key   string
	Value []byte
}

// Config configures the service.
type Config struct {
	// Mechanisms are the SASL mechanisms enabled on SASL listeners
	// (ZOMBI_SASL_MECHANISMS); nil: ScramSHA256, ScramSHA512, Plain.
	Mechanisms []string
	// Superusers bypass every ACL (ZOMBI_SUPERUSERS): user names.
	Superusers []string
	// Authorization enforces ACLs (ZOMBI_AUTHORIZATION resolved by the
	// caller: auto means on whenever a listener authenticates).
	Authorization bool
	// AllowEveryoneIfNoACL is Kafka's allow.everyone.if.no.acl.found.
	AllowEveryoneIfNoACL bool
	// FailedAuthDelay is waited before ErrAuthFailed is returned
	// (ZOMBI_FAILED_AUTH_DELAY_MS, default 100 ms; 0 here: no delay).
	FailedAuthDelay time.Duration
	Logger          *slog.Logger
}

// CredentialInfo describes one stored SCRAM credential, without secrets.
type CredentialInfo struct {
	Mechanism  string
	Iterations int
}

// UserInfo is a user and the mechanisms it has credentials for.
type UserInfo struct {
	Name        string
	Credentials []CredentialInfo
}

// SASLSession is one SASL exchange of one connection. Step takes the
// client's next message and returns the server's reply; done is true when
// the exchange succeeded (then Principal is set). An error ends the exchange:
// ErrAuthFailed (after the failed-auth delay) or a malformed message.
type SASLSession interface {
	Step(ctx context.Context, in []byte) (out []byte, done bool, err error)
	Principal() Principal
}

// TokenInfo describes a bearer token, without its secret.
type TokenInfo struct {
	ID          string    `json:"id"`
	Owner       string    `json:"owner"` // principal, "User:name"
	Description string    `json:"description,omitempty"`
	Created     time.Time `json:"created"`
	Expires     time.Time `json:"expires,omitzero"` // zero: never
}

// ACL is one Kafka access control entry, with kmsg's enum values.
// ResourceName "*" with PatternType LITERAL matches every resource; Principal
// "User:*" every user; Host "*" every host.
type ACL struct {
	ResourceType kmsg.ACLResourceType
	ResourceName string
	PatternType  kmsg.ACLResourcePatternType // LITERAL or PREFIXED
	Principal    string
	Host         string
	Operation    kmsg.ACLOperation
	Permission   kmsg.ACLPermissionType // ALLOW or DENY
}

// ACLFilter selects ACLs as Kafka's DescribeAcls and DeleteAcls filters do:
// ANY enum values and nil strings match everything; PatternType MATCH
// matches the ACLs that would apply to ResourceName (literal, "*" and
// prefixes of it).
type ACLFilter struct {
	ResourceType kmsg.ACLResourceType
	ResourceName *string
	PatternType  kmsg.ACLResourcePatternType
	Principal    *string
	Host         *string
	Operation    kmsg.ACLOperation
	Permission   kmsg.ACLPermissionType
}
