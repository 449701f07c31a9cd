package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"sync"
	"time"
)

// Successful password checks are cached so that HTTP Basic, which sends the
// password on every request, pays the key derivation (milliseconds) once a
// minute instead of per request.
const (
	pwCacheTTL  = time.Minute
	pwCacheSize = 10000
)

// pwCache maps SHA-256(process key, user, password) to the credential
// generation that accepted it. Only the digest is kept, never the
// password; an entry counts only while the user's generation is unchanged.
type pwCache struct {
	mu sync.Mutex
	m  map[[32]byte]pwEntry
}

type pwEntry struct {
	gen     uint64
	expires time.Time
}

func (c *pwCache) init() { c.m = make(map[[32]byte]pwEntry) }

func (c *pwCache) get(k [32]byte, gen uint64, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok {
		return false
	}
	if e.gen != gen || now.After(e.expires) {
		delete(c.m, k)
		return false
	}
	return true
}

func (c *pwCache) put(k [32]byte, gen uint64, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= pwCacheSize {
		// Drop the expired entries; if none, an arbitrary one.
		for k2, e := range c.m {
			if now.After(e.expires) {
				delete(c.m, k2)
			}
		}
		for k2 := range c.m {
			if len(c.m) < pwCacheSize {
				break
			}
			delete(c.m, k2)
		}
	}
	c.m[k] = pwEntry{gen: gen, expires: now.Add(pwCacheTTL)}
}

func (c *pwCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// pwCacheKey is SHA-256 over the process key and the length-prefixed user
// and password; small inputs are hashed from a stack buffer.
func (s *Service) pwCacheKey(user, password string) [32]byte {
	var buf [256]byte
	b := append(buf[:0], s.key[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(user)))
	b = append(b, user...)
	b = append(b, password...)
	k := sha256.Sum256(b)
	clear(b) // the password was in it
	return k
}

// VerifyPassword checks user's password against the stored SCRAM
// credential (PLAIN, HTTP Basic). Successful checks are cached briefly so
// that HTTP Basic does not pay the key derivation on every request.
func (s *Service) VerifyPassword(ctx context.Context, user, password string) (Principal, error) {
	if user == "" || password == "" {
		s.fakeDerive(user, password)
		return Principal{}, s.failed(ctx, Plain, "empty user or password")
	}
	s.mu.RLock()
	u := s.users[user]
	var c *credential
	var gen uint64
	if u != nil {
		gen = u.gen
		// Either mechanism's credential proves the password; SHA-256 is
		// the one every user made here has.
		if c = u.creds[ScramSHA256]; c == nil {
			c = u.creds[ScramSHA512]
		}
	}
	s.mu.RUnlock()
	if c == nil {
		// Unknown user: pay the same derivation as a known one.
		s.fakeDerive(user, password)
		return Principal{}, s.failed(ctx, Plain, "bad credentials")
	}
	key := s.pwCacheKey(user, password)
	now := s.now()
	if s.pwCache.get(key, gen, now) {
		return User(user), nil
	}
	h, _ := hashFor(c.Mechanism)
	salted, err := saltPassword(h, password, c.Salt, c.Iterations)
	if err != nil {
		return Principal{}, s.failed(ctx, Plain, "key derivation")
	}
	stored, _ := scramKeys(h, salted)
	clear(salted)
	if subtle.ConstantTimeCompare(stored, c.StoredKey) != 1 {
		return Principal{}, s.failed(ctx, Plain, "bad credentials")
	}
	s.pwCache.put(key, gen, now)
	return User(user), nil
}

// fakeDerive runs the key derivation of a default credential so that an
// unknown user costs what a known one does.
func (s *Service) fakeDerive(user, password string) {
	salt := s.fakeSalt(ScramSHA256, user)
	if salted, err := saltPassword(sha256.New, password, salt, DefaultIterations); err == nil {
		scramKeys(sha256.New, salted)
	}
}

// fakeSalt is the salt shown for an unknown user: stable per process and
// user, so that asking twice cannot tell a fake from a real one.
func (s *Service) fakeSalt(mechanism, user string) []byte {
	m := hmac.New(sha256.New, s.key[:])
	m.Write([]byte("salt\x00" + mechanism + "\x00" + user))
	return m.Sum(nil)
}

// HasPassword reports whether every credential user has (at least one)
// accepts password: a bootstrap user whose password did not change needs
// no new credentials, so a cluster's nodes starting with the same
// ZOMBI_BOOTSTRAP_USERS write nothing. No cache, no failed-auth delay: it
// is for start-up, not for clients.
func (s *Service) HasPassword(user, password string) bool {
	s.mu.RLock()
	var creds []*credential
	if u := s.users[user]; u != nil {
		for _, c := range u.creds {
			creds = append(creds, c)
		}
	}
	s.mu.RUnlock()
	if len(creds) == 0 {
		return false
	}
	for _, c := range creds {
		h, _ := hashFor(c.Mechanism)
		salted, err := saltPassword(h, password, c.Salt, c.Iterations)
		if err != nil {
			return false
		}
		stored, _ := scramKeys(h, salted)
		clear(salted)
		if subtle.ConstantTimeCompare(stored, c.StoredKey) != 1 {
			return false
		}
	}
	return true
}
