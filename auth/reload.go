package auth

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
)

// Several nodes share one store (a cluster's etcd): each keeps its memory
// in step with the others' writes by Apply (a watched change) and Load or
// Reload (the whole state, after a watch broke), as Kafka's brokers follow
// ZooKeeper's ACL change notifications and SCRAM credential znodes.
//
// A record that does not decode is never half-used: Apply and Load keep
// what memory had for that key (a corrupt DENY does not vanish, a corrupt
// credential does not replace a good one), apply everything else and
// return an error naming the keys, never a value.

// Change is one change of the store made elsewhere: Value is the new
// record, or Deleted.
type Change struct {
	Key     string
	Value   []byte
	Deleted bool
}

// AuthPrefix is the prefix of every key auth keeps in its Store.
const AuthPrefix = "auth/"

// Reload reads the whole state from the store again and makes memory
// equal to it (Load).
func (s *Service) Reload() error {
	kvs, err := s.st.List(AuthPrefix)
	if err != nil {
		return storageErr("reload", err)
	}
	return s.Load(kvs)
}

// Load makes memory equal to kvs, the whole of the store's keys under
// AuthPrefix at one point in time: users, tokens and ACLs absent from kvs
// are dropped. A user whose credentials are unchanged keeps its cached
// password checks; a changed, deleted or recreated one loses them.
func (s *Service) Load(kvs []KV) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	var bad []string
	users := make(map[string]map[string]*credential)
	tokens := make(map[string]*tokenRec)
	acls := make(map[string]ACL)
	s.mu.RLock()
	for _, kv := range kvs {
		switch {
		case strings.HasPrefix(kv.Key, userPrefix):
			name, mech, c, err := decodeCredential(kv.Key, kv.Value)
			if err != nil {
				bad = append(bad, kv.Key)
				if name == "" {
					continue
				}
				if c = s.users[name].credOrNil(mech); c == nil {
					continue
				}
			}
			if users[name] == nil {
				users[name] = make(map[string]*credential, 2)
			}
			users[name][mech] = c
		case strings.HasPrefix(kv.Key, tokenPrefix):
			t, err := decodeToken(kv.Key, kv.Value)
			if err != nil {
				bad = append(bad, kv.Key)
				if t = s.tokens[strings.TrimPrefix(kv.Key, tokenPrefix)]; t == nil {
					continue
				}
			}
			tokens[t.ID] = t
		case strings.HasPrefix(kv.Key, aclPrefix):
			id, a, err := decodeACL(kv.Key, kv.Value)
			if err != nil {
				bad = append(bad, kv.Key)
				old, ok := s.acls[id]
				if !ok {
					continue
				}
				a = old
			}
			acls[id] = a
		}
	}
	s.mu.RUnlock()

	s.mu.Lock()
	for name, u := range s.users {
		if _, ok := users[name]; !ok {
			delete(s.users, name)
			s.userGen++
			u.gen = s.userGen
		}
	}
	for name, creds := range users {
		u := s.users[name]
		if u != nil && sameCredentials(u.creds, creds) {
			continue
		}
		if u == nil {
			u = &userRec{}
			s.users[name] = u
		}
		u.creds = creds
		s.userGen++
		u.gen = s.userGen
	}
	s.tokens = tokens
	for _, t := range tokens {
		s.tokenSeq = max(s.tokenSeq, t.Seq)
	}
	s.mu.Unlock()
	if s.aclIndex.Load() == nil || !maps.EqualFunc(s.acls, acls, func(a, b ACL) bool { return a == b }) {
		s.acls = acls
		s.rebuildACLIndex()
	}
	return corruptErr(bad)
}

// Apply applies changes made to the store elsewhere, in order. Changes of
// keys outside auth's are ignored; a change already in memory (this
// node's own write seen again) changes nothing.
func (s *Service) Apply(changes []Change) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	var bad []string
	aclsChanged := false
	s.mu.Lock()
	defer func() {
		s.mu.Unlock()
		if aclsChanged {
			s.rebuildACLIndex()
		}
	}()
	for _, ch := range changes {
		switch {
		case strings.HasPrefix(ch.Key, userPrefix):
			if !s.applyCredential(ch) {
				bad = append(bad, ch.Key)
			}
		case strings.HasPrefix(ch.Key, tokenPrefix):
			if ch.Deleted {
				delete(s.tokens, strings.TrimPrefix(ch.Key, tokenPrefix))
				continue
			}
			t, err := decodeToken(ch.Key, ch.Value)
			if err != nil {
				bad = append(bad, ch.Key)
				continue
			}
			s.tokens[t.ID] = t
			s.tokenSeq = max(s.tokenSeq, t.Seq)
		case strings.HasPrefix(ch.Key, aclPrefix):
			id := strings.TrimPrefix(ch.Key, aclPrefix)
			if ch.Deleted {
				if _, ok := s.acls[id]; ok {
					delete(s.acls, id)
					aclsChanged = true
				}
				continue
			}
			_, a, err := decodeACL(ch.Key, ch.Value)
			if err != nil {
				bad = append(bad, ch.Key)
				continue
			}
			if old, ok := s.acls[id]; !ok || old != a {
				s.acls[id] = a
				aclsChanged = true
			}
		}
	}
	return corruptErr(bad)
}

// applyCredential applies one change of a credential key (under wmu and
// mu); false when its record does not decode.
func (s *Service) applyCredential(ch Change) bool {
	if ch.Deleted {
		name, mech, ok := splitUserKey(ch.Key)
		if !ok {
			return false
		}
		u := s.users[name]
		if _, had := u.cred(mech); !had {
			return true
		}
		delete(u.creds, mech)
		if len(u.creds) == 0 {
			delete(s.users, name)
		}
		s.userGen++
		u.gen = s.userGen
		return true
	}
	name, mech, c, err := decodeCredential(ch.Key, ch.Value)
	if err != nil {
		return false
	}
	u := s.users[name]
	if old, ok := u.cred(mech); ok && sameCredential(old, c) {
		return true
	}
	if u == nil {
		u = &userRec{creds: make(map[string]*credential, 2)}
		s.users[name] = u
	}
	u.creds[mech] = c
	s.userGen++
	u.gen = s.userGen
	return true
}

func corruptErr(keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	return fmt.Errorf("auth: %d record(s) do not decode, memory keeps what it had for them: %s: %w", len(keys), strings.Join(keys, ", "), ErrStorage)
}

// splitUserKey splits auth/user/<name>/<mechanism>; names may hold '/'.
func splitUserKey(key string) (name, mech string, ok bool) {
	rest := strings.TrimPrefix(key, userPrefix)
	i := strings.LastIndexByte(rest, '/')
	if i <= 0 {
		return "", "", false
	}
	return rest[:i], rest[i+1:], true
}

// decodeCredential decodes a stored credential; name is set whenever the
// key is well formed, even when the record is not.
func decodeCredential(key string, v []byte) (name, mech string, c *credential, err error) {
	name, mech, ok := splitUserKey(key)
	if !ok {
		return "", "", nil, fmt.Errorf("auth: bad user key %q: %w", key, ErrStorage)
	}
	c = new(credential)
	if err := json.Unmarshal(v, c); err != nil {
		return name, mech, nil, fmt.Errorf("auth: user %q: %w: %w", name, ErrStorage, err)
	}
	if _, ok := hashFor(mech); !ok || c.Mechanism != mech || len(c.StoredKey) == 0 || len(c.ServerKey) == 0 || c.Iterations <= 0 {
		return name, mech, nil, fmt.Errorf("auth: user %q: bad %s credential: %w", name, mech, ErrStorage)
	}
	return name, mech, c, nil
}

func decodeToken(key string, v []byte) (*tokenRec, error) {
	t := new(tokenRec)
	if err := json.Unmarshal(v, t); err != nil {
		return nil, fmt.Errorf("auth: token %q: %w: %w", key, ErrStorage, err)
	}
	if t.ID != strings.TrimPrefix(key, tokenPrefix) || len(t.Hash) != sha256.Size {
		return nil, fmt.Errorf("auth: token %q: bad record: %w", key, ErrStorage)
	}
	return t, nil
}

// decodeACL decodes a stored ACL; id is the key's, set even when the
// record does not decode.
func decodeACL(key string, v []byte) (string, ACL, error) {
	id := strings.TrimPrefix(key, aclPrefix)
	var r aclRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return id, ACL{}, fmt.Errorf("auth: ACL %q: %w: %w", key, ErrStorage, err)
	}
	a := r.acl()
	if err := a.Validate(); err != nil {
		return id, ACL{}, fmt.Errorf("auth: ACL %q: %w: %w", key, ErrStorage, err)
	}
	return id, a, nil
}

func (u *userRec) credOrNil(mech string) *credential {
	c, _ := u.cred(mech)
	return c
}

func sameCredential(a, b *credential) bool {
	return a.Mechanism == b.Mechanism && a.Iterations == b.Iterations &&
		bytes.Equal(a.Salt, b.Salt) && bytes.Equal(a.StoredKey, b.StoredKey) && bytes.Equal(a.ServerKey, b.ServerKey)
}

func sameCredentials(a, b map[string]*credential) bool {
	return maps.EqualFunc(a, b, sameCredential)
}
