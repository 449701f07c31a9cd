package auth

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/json"
	"fmt"
	"hash"
	"slices"
	"strings"
	"unicode/utf8"
)

// Kafka's bounds on SCRAM iterations (ScramMechanism minIterations and
// the broker's maximum for AlterUserScramCredentials).
const (
	minIterations = 4096
	maxIterations = 16384
	saltLen       = 32
	maxNameLen    = 1024
)

// credential is one stored SCRAM credential (RFC 5802): never the password
// nor the salted password.
type credential struct {
	Mechanism  string `json:"mechanism"`
	Iterations int    `json:"iterations"`
	Salt       []byte `json:"salt"`
	StoredKey  []byte `json:"stored_key"`
	ServerKey  []byte `json:"server_key"`
}

// userRec is a user in memory. gen changes whenever its credentials change,
// so cached password checks of older credentials no longer count.
type userRec struct {
	creds map[string]*credential // by mechanism
	gen   uint64
}

func userKey(user, mechanism string) string { return userPrefix + user + "/" + mechanism }

// hashFor returns the hash of a SCRAM mechanism.
func hashFor(mechanism string) (func() hash.Hash, bool) {
	switch mechanism {
	case ScramSHA256:
		return sha256.New, true
	case ScramSHA512:
		return sha512.New, true
	}
	return nil, false
}

// scramKeys derives StoredKey and ServerKey from a salted password:
// ClientKey = HMAC(SaltedPassword, "Client Key"), StoredKey = H(ClientKey),
// ServerKey = HMAC(SaltedPassword, "Server Key").
func scramKeys(h func() hash.Hash, salted []byte) (stored, server []byte) {
	m := hmac.New(h, salted)
	m.Write([]byte("Client Key"))
	clientKey := m.Sum(nil)
	d := h()
	d.Write(clientKey)
	stored = d.Sum(nil)
	m = hmac.New(h, salted)
	m.Write([]byte("Server Key"))
	return stored, m.Sum(nil)
}

// saltPassword is RFC 5802's Hi(): PBKDF2 with HMAC-H.
func saltPassword(h func() hash.Hash, password string, salt []byte, iterations int) ([]byte, error) {
	return pbkdf2.Key(h, password, salt, iterations, h().Size())
}

func validUserName(user string) error {
	if user == "" || len(user) > maxNameLen || !utf8.ValidString(user) || strings.ContainsRune(user, 0) {
		return fmt.Errorf("auth: user name %q: %w", user, ErrInvalid)
	}
	return nil
}

// SetPassword creates or updates user with credentials for both SCRAM
// mechanisms made from password (DefaultIterations, random salts): bootstrap
// users and `zombi user create`.
func (s *Service) SetPassword(user, password string) error {
	if err := validUserName(user); err != nil {
		return err
	}
	if password == "" {
		return fmt.Errorf("auth: empty password for user %q: %w", user, ErrInvalid)
	}
	creds := make([]*credential, 0, 2)
	for _, mech := range []string{ScramSHA256, ScramSHA512} {
		h, _ := hashFor(mech)
		salt := make([]byte, saltLen)
		if _, err := rand.Read(salt); err != nil {
			return fmt.Errorf("auth: salt: %w", err)
		}
		salted, err := saltPassword(h, password, salt, DefaultIterations)
		if err != nil {
			return fmt.Errorf("auth: derive key: %w", err)
		}
		stored, server := scramKeys(h, salted)
		creds = append(creds, &credential{Mechanism: mech, Iterations: DefaultIterations, Salt: salt, StoredKey: stored, ServerKey: server})
	}
	return s.putCredentials(user, creds)
}

// UpsertCredential stores a SCRAM credential from a salted password
// (Kafka's AlterUserScramCredentials upsertion): StoredKey and ServerKey are
// derived here; the salted password is not kept.
func (s *Service) UpsertCredential(user, mechanism string, iterations int, salt, saltedPassword []byte) error {
	if err := validUserName(user); err != nil {
		return err
	}
	h, ok := hashFor(mechanism)
	if !ok {
		return fmt.Errorf("auth: mechanism %q: %w: %w", mechanism, ErrInvalid, ErrUnsupportedMechanism)
	}
	if iterations < minIterations || iterations > maxIterations {
		return fmt.Errorf("auth: %d iterations, want %d to %d: %w", iterations, minIterations, maxIterations, ErrInvalid)
	}
	if len(salt) == 0 || len(saltedPassword) == 0 {
		return fmt.Errorf("auth: empty salt or salted password: %w", ErrInvalid)
	}
	stored, server := scramKeys(h, saltedPassword)
	return s.putCredentials(user, []*credential{{
		Mechanism: mechanism, Iterations: iterations, Salt: slices.Clone(salt), StoredKey: stored, ServerKey: server,
	}})
}

// putCredentials writes creds to the store, then replaces them in memory.
func (s *Service) putCredentials(user string, creds []*credential) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	for _, c := range creds {
		v, err := json.Marshal(c)
		if err != nil {
			return fmt.Errorf("auth: encode credential: %w", err)
		}
		if err := s.st.Put(userKey(user, c.Mechanism), v); err != nil {
			return storageErr("store credential", err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[user]
	if u == nil {
		u = &userRec{creds: make(map[string]*credential, 2)}
		s.users[user] = u
	}
	for _, c := range creds {
		u.creds[c.Mechanism] = c
	}
	s.userGen++
	u.gen = s.userGen
	return nil
}

// DeleteCredential removes one mechanism's credential of user
// (ErrNoCredential when absent).
func (s *Service) DeleteCredential(user, mechanism string) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.RLock()
	u := s.users[user]
	_, ok := u.cred(mechanism)
	s.mu.RUnlock()
	if !ok {
		return fmt.Errorf("auth: user %q has no %s credential: %w", user, mechanism, ErrNoCredential)
	}
	if err := s.st.Delete(userKey(user, mechanism)); err != nil {
		return storageErr("delete credential", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(u.creds, mechanism)
	if len(u.creds) == 0 {
		delete(s.users, user)
	}
	s.userGen++
	u.gen = s.userGen
	return nil
}

// DeleteUser removes all credentials of user (ErrNoCredential when the user
// does not exist). Tokens the user owns stay stored but are refused (see
// VerifyToken).
func (s *Service) DeleteUser(user string) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.RLock()
	u := s.users[user]
	var mechs []string
	if u != nil {
		for m := range u.creds {
			mechs = append(mechs, m)
		}
	}
	s.mu.RUnlock()
	if len(mechs) == 0 {
		return fmt.Errorf("auth: user %q: %w", user, ErrNoCredential)
	}
	slices.Sort(mechs)
	for i, m := range mechs {
		if err := s.st.Delete(userKey(user, m)); err != nil {
			// Keep memory as the store is: the earlier ones are gone.
			s.mu.Lock()
			for _, d := range mechs[:i] {
				delete(u.creds, d)
			}
			s.userGen++
			u.gen = s.userGen
			s.mu.Unlock()
			return storageErr("delete user", err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.users, user)
	s.userGen++
	u.gen = s.userGen
	return nil
}

func (u *userRec) cred(mechanism string) (*credential, bool) {
	if u == nil {
		return nil, false
	}
	c, ok := u.creds[mechanism]
	return c, ok
}

// Users lists the users, sorted by name.
func (s *Service) Users() []UserInfo {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]UserInfo, 0, len(s.users))
	for name, u := range s.users {
		ui := UserInfo{Name: name}
		for _, c := range u.creds {
			ui.Credentials = append(ui.Credentials, CredentialInfo{Mechanism: c.Mechanism, Iterations: c.Iterations})
		}
		slices.SortFunc(ui.Credentials, func(a, b CredentialInfo) int { return strings.Compare(a.Mechanism, b.Mechanism) })
		out = append(out, ui)
	}
	slices.SortFunc(out, func(a, b UserInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// HasUsers reports whether any user exists.
func (s *Service) HasUsers() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.users) > 0
}

// hasUser reports whether user has any credential.
func (s *Service) hasUser(user string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.users[user] != nil
}
