package landlockconfig

import (
	"fmt"
	"strings"
)

// A parent is a template: "${name}" stands for every value of the
// variable name, "$$" for one "$", and any other "$" for itself. A parent
// with several variables stands for every combination of their values.

// token is a piece of a parent: literal text, or a variable's name.
type token struct {
	text     string
	variable string
}

// parseTemplate splits a parent into its literal text and its variables.
func parseTemplate(s string) ([]token, error) {
	var tokens []token
	var text strings.Builder
	flush := func() {
		if text.Len() > 0 {
			tokens = append(tokens, token{text: text.String()})
			text.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			text.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			text.WriteByte('$')
			i++
		case '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return nil, fmt.Errorf("%q: unclosed variable reference at position %d: %w", s, i, ErrInvalid)
			}
			name := s[i+2 : i+2+end]
			if err := checkVariableName(name); err != nil {
				return nil, fmt.Errorf("%q: variable reference at position %d: %w", s, i, err)
			}
			flush()
			tokens = append(tokens, token{variable: name})
			i += 2 + end
		default:
			text.WriteByte('$')
		}
	}
	flush()
	return tokens, nil
}

// checkVariableName accepts the names the format allows: an ASCII letter,
// then ASCII letters, digits and underscores.
func checkVariableName(name string) error {
	if name == "" {
		return fmt.Errorf("a variable name cannot be empty: %w", ErrInvalid)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !letter && (i == 0 || !(c >= '0' && c <= '9' || c == '_')) {
			return fmt.Errorf("variable name %q: must be an ASCII letter followed by ASCII letters, digits or '_': %w", name, ErrInvalid)
		}
	}
	return nil
}

// expand returns every string a parent stands for, given the values of
// the variables.
func expand(tokens []token, values map[string][]string) []string {
	out := []string{""}
	for _, t := range tokens {
		choices := []string{t.text}
		if t.variable != "" {
			choices = values[t.variable]
		}
		var next []string
		for _, prefix := range out {
			for _, c := range choices {
				next = append(next, prefix+c)
			}
		}
		out = next
	}
	return out
}

// escape writes a literal path as a parent that stands for it alone.
func escape(path string) string { return strings.ReplaceAll(path, "$", "$$") }
