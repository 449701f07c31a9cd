package auth

import (
	"context"
	"errors"
	"testing"
)

func fuzzService(f *testing.F) *Service {
	s, err := Open(NewMemStore(), Config{})
	if err != nil {
		f.Fatal(err)
	}
	if err := s.SetPassword("alice", "pw"); err != nil {
		f.Fatal(err)
	}
	return s
}

// FuzzSCRAMServer feeds arbitrary client-first and client-final messages
// into a session: no panic, and never a success without the password.
func FuzzSCRAMServer(f *testing.F) {
	s := fuzzService(f)
	for _, seed := range [][2]string{
		{"n,,n=alice,r=fyko+d2lbbFgONRv9qkxdawL", "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="},
		{"n,,n=nobody,r=abc", "c=biws,r=abc,p=AAAA"},
		{"y,,n=alice,r=abc,tokenauth=true", "c=eSws,r=abc,p="},
		{"n,a=alice,n=alice,r=abc", "c=bixhPWFsaWNlLA==,r=abcdef,x=1,p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="},
		{"p=tls-unique,,n=alice,r=abc", ""},
		{"n,,n=al=2Cice,r=abc", "garbage"},
		{"", ""},
		{"n,,m=ext,n=alice,r=abc", ",,,"},
	} {
		f.Add(seed[0], seed[1], true)
		f.Add(seed[0], seed[1], false)
	}
	f.Fuzz(func(t *testing.T, first, final string, sha512 bool) {
		mech := ScramSHA256
		if sha512 {
			mech = ScramSHA512
		}
		sess, err := s.NewSASL(mech)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		out, done, err := sess.Step(ctx, []byte(first))
		if done {
			t.Fatalf("done after client-first %q", first)
		}
		if err != nil {
			if !errors.Is(err, ErrAuthFailed) {
				t.Fatalf("first: %v is not ErrAuthFailed", err)
			}
			return
		}
		if len(out) == 0 {
			t.Fatal("no server-first message")
		}
		_, done, err = sess.Step(ctx, []byte(final))
		if err == nil || done {
			t.Fatalf("a fuzzed client-final %q authenticated (%v, %v)", final, done, err)
		}
		if !errors.Is(err, ErrAuthFailed) {
			t.Fatalf("final: %v is not ErrAuthFailed", err)
		}
	})
}

// FuzzPLAIN: no panic; only the right user and password pass.
func FuzzPLAIN(f *testing.F) {
	s := fuzzService(f)
	for _, seed := range []string{"\x00alice\x00pw", "alice\x00alice\x00pw", "bob\x00alice\x00pw", "\x00alice\x00bad", "", "\x00\x00", "a\x00b\x00c\x00d", "\xff\xfe\x00\x00"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		sess, err := s.NewSASL(Plain)
		if err != nil {
			t.Fatal(err)
		}
		_, done, err := sess.Step(context.Background(), msg)
		authz, user, pass, ok := parsePlain(msg)
		want := ok && user == "alice" && pass == "pw" && (authz == "" || authz == "alice")
		if want != (err == nil && done) {
			t.Fatalf("PLAIN %q: done %v err %v, want success %v", msg, done, err, want)
		}
		if err != nil && !errors.Is(err, ErrAuthFailed) {
			t.Fatalf("%v is not ErrAuthFailed", err)
		}
	})
}

// FuzzParseToken: no panic; VerifyToken refuses anything not issued.
func FuzzVerifyToken(f *testing.F) {
	s := fuzzService(f)
	secret, _, err := s.CreateToken(User("alice"), "", 0)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(secret[:len(secret)-1] + "x")
	f.Add("zombi_0123456789abcdef_" + secret[len(secret)-43:])
	f.Add("zombi__")
	f.Add("")
	f.Fuzz(func(t *testing.T, tok string) {
		p, err := s.VerifyToken(context.Background(), tok)
		if (err == nil) != (tok == secret) {
			t.Fatalf("token %q: %v %v", tok, p, err)
		}
	})
}
