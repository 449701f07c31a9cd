package catalog

import (
	"errors"
	"fmt"

	"github.com/zombi-dev/zombi/kafka"
)

// kafkaError is an error whose text is Kafka's own message (the Kafka door
// answers err.Error() as the error message) and that is its sentinel for
// errors.Is.
type kafkaError struct {
	sentinel error
	msg      string
}

func (e *kafkaError) Error() string { return e.msg }
func (e *kafkaError) Unwrap() error { return e.sentinel }

// kafkaErrorf is Kafka's message as the error's whole text, with the
// sentinel the door maps to the error code.
func kafkaErrorf(sentinel error, format string, args ...any) error {
	return &kafkaError{sentinel, fmt.Sprintf(format, args...)}
}

// rfLargerThanBrokers is Kafka's INVALID_REPLICATION_FACTOR when there are
// too few live nodes.
func rfLargerThanBrokers(rf int16, live int) error {
	return &kafkaError{kafka.ErrInvalidReplicationFactor, fmt.Sprintf("Replication factor: %d larger than available brokers: %d.", rf, live)}
}

// errRFNotPositive is Kafka's message for a factor of 0 or below -1.
var errRFNotPositive = &kafkaError{kafka.ErrInvalidReplicationFactor, "Replication factor must be larger than 0, or -1 to use the default value."}

// wrapf wraps err with what was done, except Kafka's own messages, which
// the door answers as they are.
func wrapf(err error, format string, args ...any) error {
	var ke *kafkaError
	if errors.As(err, &ke) {
		return ke
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}
