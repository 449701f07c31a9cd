package topicconfig

import (
	"fmt"
	"sort"
	"strings"
)

// Op is an IncrementalAlterConfigs operation (Kafka's numbering).
type Op int8

const (
	Set      Op = 0
	Delete   Op = 1
	Append   Op = 2
	Subtract Op = 3
)

// Change is one operation on one config.
type Change struct {
	Name  string
	Op    Op
	Value string
}

// ValidateAll validates a whole set of configs (in name order, so the
// error names the same config every time).
func ValidateAll(configs map[string]string) error {
	names := make([]string, 0, len(configs))
	for k := range configs {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if err := Validate(k, configs[k]); err != nil {
			return err
		}
	}
	return nil
}

// Apply returns the overrides after changes, as Kafka's
// IncrementalAlterConfigs computes them: SET replaces, DELETE removes (an
// absent or unknown name is no error), APPEND and SUBTRACT work on list
// configs only, starting from the override or else the default. Every
// value set is validated; cur is not modified.
func Apply(cur map[string]string, changes []Change, b Broker) (map[string]string, error) {
	out := make(map[string]string, len(cur)+len(changes))
	for k, v := range cur {
		out[k] = v
	}
	for _, c := range changes {
		switch c.Op {
		case Set:
			out[c.Name] = c.Value
		case Delete:
			delete(out, c.Name)
		case Append, Subtract:
			verb := "APPEND"
			if c.Op == Subtract {
				verb = "SUBTRACT"
			}
			if !Known(c.Name) {
				return nil, invalid("Unknown topic config name: " + c.Name)
			}
			if !IsList(c.Name) {
				// Kafka 4.4's controller's words.
				return nil, invalid(fmt.Sprintf("Can't %s to key %s because its type is not LIST.", verb, c.Name))
			}
			old, ok := out[c.Name]
			if !ok {
				old = defaultValue(c.Name, b)
			}
			out[c.Name] = strings.Join(listOp(splitList(old), splitList(c.Value), c.Op == Append), ",")
		default:
			return nil, invalid(fmt.Sprintf("unknown config operation %d for %s", c.Op, c.Name))
		}
	}
	for _, c := range changes {
		if v, ok := out[c.Name]; ok && c.Op != Delete {
			if err := Validate(c.Name, v); err != nil {
				return nil, err
			}
		}
	}
	if err := checkColumnsChange(cur, out); err != nil {
		return nil, err
	}
	return out, nil
}

// defaultValue is a config's broker-level value ("" when Zombi does not
// describe it).
func defaultValue(name string, b Broker) string {
	for _, d := range Describe {
		if d.Name == name {
			return d.Value(b)
		}
	}
	return ""
}

func splitList(v string) []string {
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}

// listOp appends the elements of arg old does not hold, or removes arg's
// elements from old, as Kafka does.
func listOp(old, arg []string, add bool) []string {
	has := func(list []string, s string) bool {
		for _, x := range list {
			if x == s {
				return true
			}
		}
		return false
	}
	out := []string{}
	if add {
		out = append(out, old...)
		for _, a := range arg {
			if !has(out, a) {
				out = append(out, a)
			}
		}
		return out
	}
	for _, o := range old {
		if !has(arg, o) {
			out = append(out, o)
		}
	}
	return out
}
