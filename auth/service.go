package auth

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Service holds users, tokens and ACLs in memory, backed by a Store.
//
// Reads (VerifyPassword, SASL lookups, VerifyToken) take mu for reading;
// changes take wmu for the whole store write and then mu briefly, so that
// the store and memory change in the same order and readers never wait on
// an fsync. ACL reads load an immutable index without any lock.
type Service struct {
	st     Store
	cfg    Config
	logger *slog.Logger

	// key is a per-process random secret: fake SCRAM salts for unknown
	// users and the password cache's keys.
	key [32]byte

	superusers map[string]struct{}
	now        func() time.Time // time.Now; tests move it

	wmu sync.Mutex // serializes changes: store write, then memory

	mu      sync.RWMutex
	users   map[string]*userRec
	tokens  map[string]*tokenRec
	userGen uint64 // last credential generation handed out (under mu)

	tokenSeq uint64 // last token sequence number (under wmu)

	pwCache pwCache

	acls     map[string]ACL // by store id, under wmu
	aclIndex atomic.Pointer[aclIndex]
	aclGen   atomic.Uint64
}

// Store key prefixes (see README.md).
const (
	userPrefix  = "auth/user/"
	aclPrefix   = "auth/acl/"
	tokenPrefix = "auth/token/"
)

// Open loads users, tokens and ACLs from st.
func Open(st Store, cfg Config) (*Service, error) {
	if st == nil {
		return nil, fmt.Errorf("auth: nil store: %w", ErrInvalid)
	}
	if cfg.Mechanisms == nil {
		cfg.Mechanisms = []string{ScramSHA256, ScramSHA512, Plain}
	}
	for _, m := range cfg.Mechanisms {
		if m != ScramSHA256 && m != ScramSHA512 && m != Plain {
			return nil, fmt.Errorf("auth: SASL mechanism %q: %w", m, ErrUnsupportedMechanism)
		}
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{
		st:         st,
		cfg:        cfg,
		logger:     logger.With("component", "auth"),
		superusers: make(map[string]struct{}, len(cfg.Superusers)),
		now:        time.Now,
		users:      make(map[string]*userRec),
		tokens:     make(map[string]*tokenRec),
		acls:       make(map[string]ACL),
	}
	if _, err := rand.Read(s.key[:]); err != nil {
		return nil, fmt.Errorf("auth: random key: %w", err)
	}
	for _, u := range cfg.Superusers {
		// Kafka's super.users are principals ("User:admin"); ours are
		// names, and the Kafka form means the same.
		s.superusers[strings.TrimPrefix(u, "User:")] = struct{}{}
	}
	s.pwCache.init()
	// A corrupt record stops start-up: skipping a DENY would widen access.
	if err := s.Reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// Mechanisms returns the enabled SASL mechanisms.
func (s *Service) Mechanisms() []string { return slices.Clone(s.cfg.Mechanisms) }

// Enabled reports whether ACLs are enforced.
func (s *Service) Enabled() bool { return s.cfg.Authorization }

// IsSuperuser reports whether p bypasses ACLs.
func (s *Service) IsSuperuser(p Principal) bool {
	if p.Type != "User" {
		return false
	}
	_, ok := s.superusers[p.Name]
	return ok
}

// failed waits the failed-authentication delay (or until ctx ends) and
// returns ErrAuthFailed. The reason is logged at debug level; it never
// holds a secret.
func (s *Service) failed(ctx context.Context, mechanism, reason string) error {
	s.logger.Debug("authentication failed", "mechanism", mechanism, "reason", reason)
	if d := s.cfg.FailedAuthDelay; d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return fmt.Errorf("%w (%w)", ErrAuthFailed, ctx.Err())
		}
	}
	return ErrAuthFailed
}

func storageErr(op string, err error) error {
	return fmt.Errorf("auth: %s: %w: %w", op, ErrStorage, err)
}
