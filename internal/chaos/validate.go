package chaos

import (
	"errors"
	"fmt"
	"strings"
)

// errConfig marks a workload set up wrong: no seeds, no topic, ...
var errConfig = errors.New("chaos: bad workload configuration")

// checkTarget refuses an empty seed list (kgo would quietly dial
// localhost:9092) or topic, and empty seed addresses.
func checkTarget(driver string, seeds []string, topic string) error {
	if len(seeds) == 0 {
		return fmt.Errorf("%w: %s: no seed brokers", errConfig, driver)
	}
	for _, s := range seeds {
		if strings.TrimSpace(s) == "" {
			return fmt.Errorf("%w: %s: an empty seed broker address in %q", errConfig, driver, seeds)
		}
	}
	if topic == "" {
		return fmt.Errorf("%w: %s: no topic", errConfig, driver)
	}
	return nil
}

// Fault returns the report of the fault named name.
func (r Report) Fault(name string) (FaultGap, bool) {
	for _, f := range r.Faults {
		if f.Name == name {
			return f, true
		}
	}
	return FaultGap{}, false
}
