package connlimit

import (
	"io"
	"net"
	"testing"
	"time"
)

func serve(t *testing.T, max, perIP int) *Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := New(ln, max, perIP)
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { // echo until the client closes
				_, _ = io.Copy(c, c)
				c.Close()
			}()
		}
	}()
	return l
}

// alive reports whether c still echoes.
func alive(c net.Conn) bool {
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("x")); err != nil {
		return false
	}
	var b [1]byte
	_, err := io.ReadFull(c, b[:])
	return err == nil
}

func dial(t *testing.T, from, to string) net.Conn {
	t.Helper()
	c, err := tryDial(t, from, to)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// tryDial connects; a connection refused at a cap may be reset before
// Dial returns, which is an error here.
func tryDial(t *testing.T, from, to string) (net.Conn, error) {
	t.Helper()
	d := net.Dialer{Timeout: 2 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c, err := d.Dial("tcp", to)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Close() })
	return c, nil
}

func TestCaps(t *testing.T) {
	for _, tc := range []struct {
		name       string
		max, perIP int
		secondIP   bool // the fourth connection comes from 127.0.0.2
	}{
		{"total", 2, 0, false},
		{"per IP", 0, 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := serve(t, tc.max, tc.perIP)
			addr := l.Addr().String()
			a, b := dial(t, "127.0.0.1", addr), dial(t, "127.0.0.1", addr)
			if !alive(a) || !alive(b) {
				t.Fatal("connections within the cap do not work")
			}
			if over, err := tryDial(t, "127.0.0.1", addr); err == nil && alive(over) {
				t.Fatal("a connection past the cap works")
			}
			if l.Refused() != 1 {
				t.Fatalf("refused %d, want 1", l.Refused())
			}
			if !alive(a) || !alive(b) {
				t.Fatal("a refusal disturbed the open connections")
			}
			if tc.secondIP {
				if other := dial(t, "127.0.0.2", addr); !alive(other) {
					t.Fatal("another address is capped too")
				}
			}
			// A closed connection frees its slot.
			a.Close()
			deadline := time.Now().Add(5 * time.Second)
			for {
				if c, err := tryDial(t, "127.0.0.1", addr); err == nil && alive(c) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the slot of a closed connection was not freed")
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}
