// Package syncbuf is a bytes.Buffer safe for concurrent use: a log sink or
// a terminal stand-in that tests read while servers and goroutines write.
package syncbuf

import (
	"bytes"
	"sync"
)

// Buffer is written by many goroutines and read with String.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String is what was written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
