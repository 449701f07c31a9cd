package auth

import (
	"fmt"
	"slices"
)

// NewSASL starts a SASL exchange (ErrUnsupportedMechanism when not enabled).
func (s *Service) NewSASL(mechanism string) (SASLSession, error) {
	if !slices.Contains(s.cfg.Mechanisms, mechanism) {
		return nil, fmt.Errorf("auth: %q: %w", mechanism, ErrUnsupportedMechanism)
	}
	switch mechanism {
	case ScramSHA256, ScramSHA512:
		return s.newSCRAM(mechanism), nil
	case Plain:
		return &plainSession{s: s}, nil
	}
	return nil, fmt.Errorf("auth: %q: %w", mechanism, ErrUnsupportedMechanism)
}
