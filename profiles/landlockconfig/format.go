package landlockconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"strings"

	toml "github.com/pelletier/go-toml/v2"
	kjson "sigs.k8s.io/json"
)

// Document is a landlockconfig document, field for field as the format's
// JSON schema has it. TOML spells the same fields in snake_case
// (path_beneath, allowed_access, ...).
type Document struct {
	// ABI is the Landlock ABI that the groups (abi.all, ...) stand for.
	ABI         *int          `json:"abi,omitempty" toml:"abi,omitempty"`
	Variable    []Variable    `json:"variable,omitempty" toml:"variable,omitempty"`
	Ruleset     []Ruleset     `json:"ruleset,omitempty" toml:"ruleset,omitempty"`
	PathBeneath []PathBeneath `json:"pathBeneath,omitempty" toml:"path_beneath,omitempty"`
	NetPort     []NetPort     `json:"netPort,omitempty" toml:"net_port,omitempty"`
}

// Variable gives a name to a set of strings that parents use as ${name}.
type Variable struct {
	Name    string   `json:"name" toml:"name"`
	Literal []string `json:"literal,omitempty" toml:"literal,omitempty"`
}

// Ruleset names what the Landlock ruleset handles: what is denied unless a
// rule allows it.
type Ruleset struct {
	HandledAccessFs  []string `json:"handledAccessFs,omitempty" toml:"handled_access_fs,omitempty"`
	HandledAccessNet []string `json:"handledAccessNet,omitempty" toml:"handled_access_net,omitempty"`
	Scoped           []string `json:"scoped,omitempty" toml:"scoped,omitempty"`
}

// PathBeneath allows filesystem access beneath each parent.
type PathBeneath struct {
	AllowedAccess []string `json:"allowedAccess" toml:"allowed_access"`
	Parent        []string `json:"parent" toml:"parent"`
}

// NetPort allows TCP access to each port.
type NetPort struct {
	AllowedAccess []string `json:"allowedAccess" toml:"allowed_access"`
	Port          []uint64 `json:"port" toml:"port"`
}

// Format is a syntax of the format.
type Format string

// The two syntaxes of landlockconfig, with the same meaning.
const (
	JSON Format = "json"
	TOML Format = "toml"
)

// FormatOf tells the format of a file by its extension.
func FormatOf(file string) (Format, error) {
	switch ext := strings.ToLower(filepath.Ext(file)); ext {
	case ".json":
		return JSON, nil
	case ".toml":
		return TOML, nil
	default:
		return "", fmt.Errorf("cannot tell the format of %q from its extension: name the format (json or toml)", file)
	}
}

// ParseFormat reads the name of a format.
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(s)); f {
	case JSON, TOML:
		return f, nil
	}
	return "", fmt.Errorf("unknown format %q: json or toml", s)
}

// Parse reads a document strictly, as the reference implementation does:
// an unknown or repeated field, a field of the other syntax (pathBeneath
// in TOML) and an empty list are errors, not things left out.
func Parse(data []byte, f Format) (*Document, error) {
	var err error
	switch f {
	case JSON:
	case TOML:
		data, err = tomlAsJSON(data)
	default:
		err = fmt.Errorf("unknown format %q", f)
	}
	if err != nil {
		return nil, fmt.Errorf("reading landlockconfig %s: %w: %w", f, err, ErrInvalid)
	}
	var d Document
	strict, err := kjson.UnmarshalStrict(data, &d, kjson.DisallowUnknownFields, kjson.DisallowDuplicateFields)
	if err = errors.Join(append([]error{err}, strict...)...); err != nil {
		return nil, fmt.Errorf("reading landlockconfig %s: %w: %w", f, err, ErrInvalid)
	}
	if err := d.check(); err != nil {
		return nil, fmt.Errorf("reading landlockconfig %s: %w", f, err)
	}
	return &d, nil
}

// Marshal writes the document.
func (d *Document) Marshal(f Format) ([]byte, error) {
	switch f {
	case JSON:
		data, err := json.MarshalIndent(d, "", "  ")
		if err != nil {
			return nil, err
		}
		return append(data, '\n'), nil
	case TOML:
		var buf bytes.Buffer
		if err := toml.NewEncoder(&buf).SetArraysMultiline(false).Encode(d); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	return nil, fmt.Errorf("unknown format %q", f)
}

// tomlKeys maps the TOML spelling of a key to the JSON one, where they
// differ.
var tomlKeys = map[string]string{
	"path_beneath":       "pathBeneath",
	"net_port":           "netPort",
	"handled_access_fs":  "handledAccessFs",
	"handled_access_net": "handledAccessNet",
	"allowed_access":     "allowedAccess",
}

// tomlAsJSON turns a TOML document into the JSON of the same document, so
// that one strict decoder reads both. go-toml's own decoder would match
// keys regardless of case, which the format does not.
func tomlAsJSON(data []byte) ([]byte, error) {
	var tree map[string]any
	if err := toml.Unmarshal(data, &tree); err != nil {
		return nil, err
	}
	converted, err := jsonKeys(tree, "")
	if err != nil {
		return nil, err
	}
	return json.Marshal(converted)
}

func jsonKeys(v any, at string) (any, error) {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for _, k := range slices.Sorted(maps.Keys(v)) {
			key := k
			if j, ok := tomlKeys[k]; ok {
				key = j
			} else if slices.Contains(slices.Collect(maps.Values(tomlKeys)), k) {
				return nil, fmt.Errorf("unknown field %q%s: TOML spells it in snake_case", k, where(at))
			}
			c, err := jsonKeys(v[k], join(at, k))
			if err != nil {
				return nil, err
			}
			out[key] = c
		}
		return out, nil
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			c, err := jsonKeys(e, fmt.Sprintf("%s[%d]", at, i))
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	case string, int64:
		return v, nil
	}
	return nil, fmt.Errorf("%s: a %T has no place in a landlockconfig document", at, v)
}

func join(at, key string) string {
	if at == "" {
		return key
	}
	return at + "." + key
}

func where(at string) string {
	if at == "" {
		return ""
	}
	return " in " + at
}

// check applies what the JSON schema requires beyond the shape of the
// fields: lists that are present are not empty, a ruleset handles
// something, and the document holds more than its abi.
func (d *Document) check() error {
	var errs []error
	notEmpty := func(field string, required bool, n int) {
		if required && n == 0 {
			errs = append(errs, fmt.Errorf("%s is missing or an empty list: %w", field, ErrInvalid))
		}
	}
	if len(d.Variable)+len(d.Ruleset)+len(d.PathBeneath)+len(d.NetPort) == 0 {
		errs = append(errs, fmt.Errorf("the document has no variable, ruleset, pathBeneath or netPort: %w", ErrInvalid))
	}
	if d.ABI != nil && (*d.ABI < 1 || *d.ABI > math.MaxInt32) {
		errs = append(errs, fmt.Errorf("abi %d: the format's ABIs are 1 to 2^31-1: %w", *d.ABI, ErrInvalid))
	}
	notEmpty("variable", d.Variable != nil, len(d.Variable))
	notEmpty("ruleset", d.Ruleset != nil, len(d.Ruleset))
	notEmpty("pathBeneath", d.PathBeneath != nil, len(d.PathBeneath))
	notEmpty("netPort", d.NetPort != nil, len(d.NetPort))
	for i, v := range d.Variable {
		field := fmt.Sprintf("variable[%d]", i)
		if err := checkVariableName(v.Name); err != nil {
			errs = append(errs, fmt.Errorf("%s.name: %w", field, err))
		}
		notEmpty(field+".literal", v.Literal != nil, len(v.Literal))
	}
	for i, r := range d.Ruleset {
		field := fmt.Sprintf("ruleset[%d]", i)
		if len(r.HandledAccessFs)+len(r.HandledAccessNet)+len(r.Scoped) == 0 {
			errs = append(errs, fmt.Errorf("%s handles nothing: %w", field, ErrInvalid))
		}
		notEmpty(field+".handledAccessFs", r.HandledAccessFs != nil, len(r.HandledAccessFs))
		notEmpty(field+".handledAccessNet", r.HandledAccessNet != nil, len(r.HandledAccessNet))
		notEmpty(field+".scoped", r.Scoped != nil, len(r.Scoped))
	}
	for i, p := range d.PathBeneath {
		field := fmt.Sprintf("pathBeneath[%d]", i)
		notEmpty(field+".allowedAccess", true, len(p.AllowedAccess))
		notEmpty(field+".parent", true, len(p.Parent))
	}
	for i, p := range d.NetPort {
		field := fmt.Sprintf("netPort[%d]", i)
		notEmpty(field+".allowedAccess", true, len(p.AllowedAccess))
		notEmpty(field+".port", true, len(p.Port))
	}
	return errors.Join(errs...)
}
