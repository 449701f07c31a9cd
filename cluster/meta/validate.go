package meta

import (
	"errors"
	"fmt"
)

// errInvalid is a malformed call: nothing was sent to the store.
var errInvalid = errors.New("meta: invalid request")

// checkTxn rejects what etcd would refuse (an empty key, one key changed
// twice in a transaction) the same way in both stores.
func checkTxn(cmps []Cmp, ops []Op) error {
	for _, c := range cmps {
		if c.Key == "" {
			return fmt.Errorf("%w: empty key in a comparison", errInvalid)
		}
		if c.Version < 0 {
			return fmt.Errorf("%w: negative version for %q", errInvalid, c.Key)
		}
	}
	seen := make(map[string]struct{}, len(ops))
	for _, op := range ops {
		if op.Key == "" {
			return fmt.Errorf("%w: empty key in an operation", errInvalid)
		}
		if _, dup := seen[op.Key]; dup {
			return fmt.Errorf("%w: key %q changed twice in one transaction", errInvalid, op.Key)
		}
		seen[op.Key] = struct{}{}
	}
	return nil
}
