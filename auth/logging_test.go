package auth

import (
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/zombi-dev/zombi/internal/syncbuf"
)

// Every path that sees a secret, at debug level: nothing secret is logged
// and no error carries one.
func TestNoSecretsInLogsOrErrors(t *testing.T) {
	var buf syncbuf.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := newTestService(t, Config{Logger: logger})
	ctx := context.Background()
	const pw, wrong = "Pa55-word-secret", "Wr0ng-guess-secret"
	var errs []error
	errs = append(errs, s.SetPassword("alice", pw))
	_, err := s.VerifyPassword(ctx, "alice", wrong)
	errs = append(errs, err)
	_, err = s.VerifyPassword(ctx, wrong, pw) // a password typed as the user name
	errs = append(errs, err)
	for _, msg := range []string{"\x00alice\x00" + wrong, "x\x00alice\x00" + wrong, "\x00alice\x00" + wrong + "\x00"} {
		sess, _ := s.NewSASL(Plain)
		_, _, err := sess.Step(ctx, []byte(msg))
		errs = append(errs, err)
	}
	_, err = runSCRAM(t, s, ScramSHA256, "alice", wrong, "")
	errs = append(errs, err)
	sess, _ := s.NewSASL(ScramSHA512)
	sess.Step(ctx, []byte("n,,n=alice,r=abc"))
	proof := base64.StdEncoding.EncodeToString([]byte(wrong))
	_, _, err = sess.Step(ctx, []byte("c=biws,r=abc,p="+proof))
	errs = append(errs, err)
	secret, _, err := s.CreateToken(User("alice"), "d", 0)
	errs = append(errs, err)
	_, err = s.VerifyToken(ctx, secret[:len(secret)-2]+"xx")
	errs = append(errs, err)
	_, err = s.VerifyToken(ctx, secret+"x")
	errs = append(errs, err)

	out := buf.String()
	if !strings.Contains(out, "authentication failed") {
		t.Fatalf("failures not logged at debug level: %q", out)
	}
	for _, sec := range []string{pw, wrong, proof, secret[len(secret)-43:]} {
		if strings.Contains(out, sec) {
			t.Errorf("log holds a secret %q:\n%s", sec, out)
		}
		for _, err := range errs {
			if err != nil && strings.Contains(err.Error(), sec) {
				t.Errorf("error %q holds a secret", err)
			}
		}
	}
}

func TestTokenFailureDelay(t *testing.T) {
	s := newTestService(t, Config{FailedAuthDelay: 30 * time.Millisecond})
	start := time.Now()
	if _, err := s.VerifyToken(context.Background(), "zombi_nope"); !errors.Is(err, ErrAuthFailed) {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Fatalf("token failure after %v, want >= 30ms", d)
	}
}
