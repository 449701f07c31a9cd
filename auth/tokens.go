package auth

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// A token's secret is "zombi_<id>_<secret>": id is 16 hex digits (the
// store key), secret 32 random bytes in unpadded base64url. Only
// SHA-256(whole token) is stored: the secret has 256 bits of entropy, so a
// plain hash cannot be brute-forced and needs no slow derivation.
const (
	tokenTag       = "zombi_"
	tokenIDBytes   = 8
	tokenSecretLen = 32
	maxTokenDesc   = 1024
)

type tokenRec struct {
	TokenInfo
	Hash []byte `json:"hash"`
	// Seq orders tokens made in the same millisecond.
	Seq uint64 `json:"seq"`
}

// CreateToken makes a bearer token for owner; the secret is returned once
// and only its hash is stored. ttl 0: no expiry. The owner must be a user
// with credentials (ErrInvalid otherwise).
func (s *Service) CreateToken(owner Principal, description string, ttl time.Duration) (string, TokenInfo, error) {
	if owner.Type != "User" || validUserName(owner.Name) != nil {
		return "", TokenInfo{}, fmt.Errorf("auth: token owner %q: %w", owner, ErrInvalid)
	}
	if ttl < 0 || len(description) > maxTokenDesc {
		return "", TokenInfo{}, fmt.Errorf("auth: token ttl %v or description too long: %w", ttl, ErrInvalid)
	}
	if !s.hasUser(owner.Name) {
		return "", TokenInfo{}, fmt.Errorf("auth: token owner %q has no credentials: %w", owner, ErrInvalid)
	}
	var idb [tokenIDBytes]byte
	var sec [tokenSecretLen]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return "", TokenInfo{}, fmt.Errorf("auth: token id: %w", err)
	}
	if _, err := rand.Read(sec[:]); err != nil {
		return "", TokenInfo{}, fmt.Errorf("auth: token secret: %w", err)
	}
	id := hex.EncodeToString(idb[:])
	secret := tokenTag + id + "_" + base64.RawURLEncoding.EncodeToString(sec[:])
	h := sha256.Sum256([]byte(secret))
	now := s.now().UTC().Truncate(time.Millisecond)
	info := TokenInfo{ID: id, Owner: owner.String(), Description: description, Created: now}
	if ttl > 0 {
		info.Expires = now.Add(ttl)
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	rec := &tokenRec{TokenInfo: info, Hash: h[:], Seq: s.tokenSeq + 1}
	v, err := json.Marshal(rec)
	if err != nil {
		return "", TokenInfo{}, fmt.Errorf("auth: encode token: %w", err)
	}
	if err := s.st.Put(tokenPrefix+id, v); err != nil {
		return "", TokenInfo{}, storageErr("store token", err)
	}
	s.tokenSeq++
	s.mu.Lock()
	s.tokens[id] = rec
	s.mu.Unlock()
	return secret, info, nil
}

// parseToken returns the id of a well-formed token.
func parseToken(secret string) (string, bool) {
	rest, ok := strings.CutPrefix(secret, tokenTag)
	if !ok {
		return "", false
	}
	id, sec, ok := strings.Cut(rest, "_")
	if !ok || len(id) != 2*tokenIDBytes || len(sec) != base64.RawURLEncoding.EncodedLen(tokenSecretLen) {
		return "", false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return "", false
		}
	}
	return id, true
}

// VerifyToken returns the owner of a valid, unexpired token. A token whose
// owner no longer has credentials (a deleted user) is refused.
func (s *Service) VerifyToken(ctx context.Context, secret string) (Principal, error) {
	id, ok := parseToken(secret)
	if !ok {
		return Principal{}, s.failed(ctx, "token", "malformed token")
	}
	h := sha256.Sum256([]byte(secret))
	s.mu.RLock()
	rec := s.tokens[id]
	s.mu.RUnlock()
	if rec == nil || subtle.ConstantTimeCompare(h[:], rec.Hash) != 1 {
		return Principal{}, s.failed(ctx, "token", "unknown token")
	}
	if !rec.Expires.IsZero() && !s.now().Before(rec.Expires) {
		return Principal{}, s.failed(ctx, "token", "expired token")
	}
	name, ok := strings.CutPrefix(rec.Owner, "User:")
	if !ok || !s.hasUser(name) {
		return Principal{}, s.failed(ctx, "token", "owner has no credentials")
	}
	return User(name), nil
}

// Tokens lists the tokens, oldest first.
func (s *Service) Tokens() []TokenInfo {
	s.mu.RLock()
	recs := make([]*tokenRec, 0, len(s.tokens))
	for _, t := range s.tokens {
		recs = append(recs, t)
	}
	s.mu.RUnlock()
	slices.SortFunc(recs, func(a, b *tokenRec) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Seq, b.Seq); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	out := make([]TokenInfo, len(recs))
	for i, t := range recs {
		out[i] = t.TokenInfo
	}
	return out
}

// RevokeToken deletes a token by id (ErrNotFound when unknown).
func (s *Service) RevokeToken(id string) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.RLock()
	_, ok := s.tokens[id]
	s.mu.RUnlock()
	if !ok {
		return fmt.Errorf("auth: token %q: %w", id, ErrNotFound)
	}
	if err := s.st.Delete(tokenPrefix + id); err != nil {
		return storageErr("delete token", err)
	}
	s.mu.Lock()
	delete(s.tokens, id)
	s.mu.Unlock()
	return nil
}
