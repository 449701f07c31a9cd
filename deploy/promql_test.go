package deploy

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// A small PromQL reader for the tests: enough to find the metric names and
// label names an expression uses, not a parser. It knows the shapes our
// dashboard and rules use: selectors with matchers, range selectors,
// aggregations with by/without, binary operators with on/ignoring and
// group_left/group_right, and Grafana's label_values(...) variable queries.

// promQuery is what one expression uses.
type promQuery struct {
	Metrics  []string          // metric (or recorded rule) names, as written
	Labels   []string          // label names in matchers and by/without/on/ignoring lists
	Equal    map[string]string // literal equality matchers label="value" (not Grafana variables)
	Function []string          // functions and aggregations called
}

var (
	identRe     = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*`)
	matcherRe   = regexp.MustCompile(`^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*,?`)
	labelListRe = regexp.MustCompile(`^\s*\(([^()]*)\)`)
)

// promKeywords are the identifiers that are not metric names even when not
// followed by "(".
var promKeywords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"bool": true, "and": true, "or": true, "unless": true, "offset": true, "atan2": true,
	"inf": true, "nan": true, "Inf": true, "NaN": true,
}

// promAggregations may put by/without between their name and "(".
var promAggregations = map[string]bool{
	"sum": true, "min": true, "max": true, "avg": true, "count": true, "group": true, "stddev": true, "stdvar": true,
	"topk": true, "bottomk": true, "quantile": true, "count_values": true, "limitk": true, "limit_ratio": true,
}

// parsePromQL reads expr; an error means a shape this reader does not know,
// which a test should treat as a failure (fix the expression or the reader).
func parsePromQL(expr string) (promQuery, error) {
	q := promQuery{Equal: map[string]string{}}
	// Grafana: label_values(selector, label) -> the selector; the label is a label.
	if rest, ok := strings.CutPrefix(strings.TrimSpace(expr), "label_values("); ok {
		inner := strings.TrimSuffix(strings.TrimSpace(rest), ")")
		i := strings.LastIndex(inner, ",")
		if i < 0 {
			return q, fmt.Errorf("label_values without a label: %q", expr)
		}
		sub, err := parsePromQL(inner[:i])
		if err != nil {
			return q, err
		}
		sub.Labels = append(sub.Labels, strings.TrimSpace(inner[i+1:]))
		sub.Function = append(sub.Function, "label_values")
		return sub.normal(), nil
	}
	s := expr
	for len(s) > 0 {
		c := s[0]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			s = s[1:]
		case c == '"' || c == '\'':
			end := strings.IndexByte(s[1:], c)
			if end < 0 {
				return q, fmt.Errorf("unterminated string in %q", expr)
			}
			s = s[end+2:]
		case c == '{':
			rest, err := q.matchers(s[1:], expr)
			if err != nil {
				return q, err
			}
			s = rest
		case c == '[':
			end := strings.IndexByte(s, ']')
			if end < 0 {
				return q, fmt.Errorf("unterminated range in %q", expr)
			}
			s = s[end+1:]
		case c == '$': // a Grafana variable outside a string, e.g. [$__rate_interval] is skipped above
			m := regexp.MustCompile(`^\$[a-zA-Z0-9_]+`).FindString(s)
			if m == "" {
				return q, fmt.Errorf("stray $ in %q", expr)
			}
			s = s[len(m):]
		case c >= '0' && c <= '9' || c == '.':
			m := regexp.MustCompile(`^[0-9.eE+-]+[smhdwy]?`).FindString(s)
			s = s[len(m):]
		case identRe.MatchString(s):
			id := identRe.FindString(s)
			s = s[len(id):]
			after := strings.TrimLeft(s, " \t\n")
			switch {
			case id == "by" || id == "without" || id == "on" || id == "ignoring" || id == "group_left" || id == "group_right":
				if m := labelListRe.FindStringSubmatch(after); m != nil {
					for _, l := range strings.Split(m[1], ",") {
						if l = strings.TrimSpace(l); l != "" {
							q.Labels = append(q.Labels, l)
						}
					}
					s = after[len(m[0]):]
				}
			case promKeywords[id]:
			case strings.HasPrefix(after, "(") || promAggregations[id] && (strings.HasPrefix(after, "by") || strings.HasPrefix(after, "without")):
				q.Function = append(q.Function, id)
			default:
				q.Metrics = append(q.Metrics, id)
			}
		case strings.ContainsRune("()+-*/%^=!<>,", rune(c)):
			s = s[1:]
		default:
			return q, fmt.Errorf("unexpected %q in %q", string(c), expr)
		}
	}
	return q.normal(), nil
}

// matchers reads the label matchers after "{" up to "}" and returns the rest.
func (q *promQuery) matchers(s, expr string) (string, error) {
	for {
		s = strings.TrimLeft(s, " \t\n")
		if strings.HasPrefix(s, "}") {
			return s[1:], nil
		}
		m := matcherRe.FindStringSubmatch(s)
		if m == nil {
			return "", fmt.Errorf("cannot read the matchers at %q in %q", s, expr)
		}
		q.Labels = append(q.Labels, m[1])
		if m[2] == "=" && !strings.Contains(m[3], "$") {
			q.Equal[m[1]] = m[3]
		}
		s = s[len(m[0]):]
	}
}

// normal sorts and de-duplicates.
func (q promQuery) normal() promQuery {
	q.Metrics, q.Labels, q.Function = uniq(q.Metrics), uniq(q.Labels), uniq(q.Function)
	return q
}

func uniq(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// legendLabels are the {{label}} names of a Grafana legend format.
func legendLabels(legend string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}`).FindAllStringSubmatch(legend, -1) {
		out = append(out, m[1])
	}
	return uniq(out)
}
