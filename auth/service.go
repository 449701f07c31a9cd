package auth

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// errTODO marks what the implementation still has to fill in.
var errTODO = errors.New("auth: not implemented yet")

// Service holds users, tokens and ACLs in memory, backed by a Store.
type Service struct {
	st  Store
	cfg Config
}

// Open loads users, tokens and ACLs from st.
func Open(st Store, cfg Config) (*Service, error) { return &Service{st: st, cfg: cfg}, nil }

// --- users ---

// SetPassword creates or updates user with credentials for both SCRAM
// mechanisms made from password (DefaultIterations, random salts): bootstrap
// users and `zombi user create`.
func (s *Service) SetPassword(user, password string) error { return errTODO }

// UpsertCredential stores a SCRAM credential from a salted password
// (Kafka's AlterUserScramCredentials upsertion): StoredKey and ServerKey are
// derived here; the salted password is not kept.
func (s *Service) UpsertCredential(user, mechanism string, iterations int, salt, saltedPassword []byte) error {
	return errTODO
}

// DeleteCredential removes one mechanism's credential of user
// (ErrNoCredential when absent).
func (s *Service) DeleteCredential(user, mechanism string) error { return errTODO }

// DeleteUser removes all credentials of user.
func (s *Service) DeleteUser(user string) error { return errTODO }

// Users lists the users, sorted by name.
func (s *Service) Users() []UserInfo { return nil }

// HasUsers reports whether any user exists.
func (s *Service) HasUsers() bool { return false }

// --- authentication ---

// Mechanisms returns the enabled SASL mechanisms.
func (s *Service) Mechanisms() []string { return s.cfg.Mechanisms }

// NewSASL starts a SASL exchange (ErrUnsupportedMechanism when not enabled).
func (s *Service) NewSASL(mechanism string) (SASLSession, error) { return nil, errTODO }

// VerifyPassword checks user's password against the stored SCRAM
// credential (PLAIN, HTTP Basic). Successful checks are cached briefly so
// that HTTP Basic does not pay the key derivation on every request.
func (s *Service) VerifyPassword(ctx context.Context, user, password string) (Principal, error) {
	return Principal{}, errTODO
}

// --- tokens ---

// CreateToken makes a bearer token for owner; the secret is returned once
// and only its hash is stored. ttl 0: no expiry.
func (s *Service) CreateToken(owner Principal, description string, ttl time.Duration) (string, TokenInfo, error) {
	return "", TokenInfo{}, errTODO
}

// VerifyToken returns the owner of a valid, unexpired token.
func (s *Service) VerifyToken(ctx context.Context, secret string) (Principal, error) {
	return Principal{}, errTODO
}

// Tokens lists the tokens, oldest first.
func (s *Service) Tokens() []TokenInfo { return nil }

// RevokeToken deletes a token by id.
func (s *Service) RevokeToken(id string) error { return errTODO }

// --- authorization ---

// Enabled reports whether ACLs are enforced.
func (s *Service) Enabled() bool { return s.cfg.Authorization }

// IsSuperuser reports whether p bypasses ACLs.
func (s *Service) IsSuperuser(p Principal) bool { return false }

// Generation changes whenever an ACL is created or deleted, so callers can
// cache decisions per connection.
func (s *Service) Generation() uint64 { return 0 }

// Authorize decides whether p, connected from host (an IP address), may do
// op on the resource: superusers always; otherwise DENY wins, an ALLOW for
// op (or ALL; READ, WRITE, DELETE and ALTER imply DESCRIBE; ALTER_CONFIGS
// implies DESCRIBE_CONFIGS) allows, and with no ACL on the resource at all,
// AllowEveryoneIfNoACL decides. Always true when authorization is off.
func (s *Service) Authorize(p Principal, host string, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) bool {
	return !s.cfg.Authorization
}

// CreateACLs stores acls; one error per ACL (nil when created, ErrInvalid
// for a malformed one).
func (s *Service) CreateACLs(acls []ACL) []error { return make([]error, len(acls)) }

// DescribeACLs returns the ACLs matching f.
func (s *Service) DescribeACLs(f ACLFilter) ([]ACL, error) { return nil, errTODO }

// DeleteACLs deletes the ACLs matching each filter and returns them, per
// filter.
func (s *Service) DeleteACLs(fs []ACLFilter) ([][]ACL, error) { return nil, errTODO }
