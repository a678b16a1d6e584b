package front

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"

	"github.com/kubewarden/podlock/internal/sysread"
)

// The configuration podlock-runtime-confine reads (runtime.Config), of
// which the front needs two keys. Measured: a YAML library's package
// initialisation costs the front more than the rest of its start, so the
// front reads the file as the flat "key: value" lines podlock-node writes,
// and leaves any other shape to podlock-runtime-confine.
const (
	defaultConfigFile = "/etc/podlock/config.yaml"
	defaultIndexDir   = "/run/podlock/containers"
)

type config struct {
	runtime  string
	indexDir string
}

// errUnread is a configuration the front does not read itself.
var errUnread = errors.New("configuration the front does not read")

// loadConfig reads the keys runtime and indexDir of the configuration
// file and their environment overrides, as runtime.LoadConfig does.
func loadConfig() (*config, error) {
	file, explicit := os.LookupEnv("PODLOCK_CONFIG")
	if !explicit {
		file = defaultConfigFile
	}
	var c config
	data, err := sysread.File(file, 0)
	switch {
	case err == nil:
		values, err := parseFlat(string(data))
		if err != nil {
			return nil, err
		}
		for key := range values {
			// podlock-runtime-confine matches keys as encoding/json
			// does, ignoring case: a "Runtime" must not name one runtime
			// for it and leave the front with another.
			for _, want := range []string{"runtime", "indexDir"} {
				if key != want && strings.EqualFold(key, want) {
					return nil, errUnread
				}
			}
		}
		c.runtime, c.indexDir = values["runtime"], values["indexDir"]
	case errors.Is(err, os.ErrNotExist) && !explicit:
	default:
		return nil, err
	}
	if v := os.Getenv("PODLOCK_RUNTIME"); v != "" {
		c.runtime = v
	}
	if v := os.Getenv("PODLOCK_INDEX_DIR"); v != "" {
		c.indexDir = v
	}
	if c.indexDir == "" {
		c.indexDir = defaultIndexDir
	}
	return &c, nil
}

// parseFlat reads a YAML document made only of top-level "key: value"
// lines with plain or quoted scalar values, comments and blank lines, or a
// JSON object of scalar values (JSON is YAML, and configuration tools
// write it).
func parseFlat(doc string) (map[string]string, error) {
	if trimmed := strings.TrimSpace(doc); strings.HasPrefix(trimmed, "{") {
		return parseFlatJSON(trimmed)
	}
	values := map[string]string{}
	for _, line := range strings.Split(doc, "\n") {
		line = strings.TrimRight(line, " \t\r")
		if line == "" || line == "---" || line[0] == '#' {
			continue
		}
		key, value, ok := strings.Cut(line, ":")
		if !ok || key == "" || !isPlainKey(key) || value != "" && value[0] != ' ' {
			return nil, errUnread
		}
		value = strings.TrimSpace(value)
		switch {
		case value == "":
		case value[0] == '"' || value[0] == '\'':
			q := value[0]
			end := strings.IndexByte(value[1:], q)
			if end < 0 || strings.TrimSpace(value[end+2:]) != "" && !strings.HasPrefix(strings.TrimSpace(value[end+2:]), "#") {
				return nil, errUnread
			}
			value = value[1 : end+1]
			if q == '"' && strings.ContainsRune(value, '\\') || q == '\'' && strings.Contains(value, "''") {
				return nil, errUnread
			}
		case strings.ContainsAny(value[:1], "{[&*!|>%@`"):
			return nil, errUnread
		default:
			if i := strings.Index(value, " #"); i >= 0 {
				value = strings.TrimSpace(value[:i])
			}
		}
		if _, dup := values[key]; dup {
			return nil, errUnread
		}
		values[key] = value
	}
	return values, nil
}

// parseFlatJSON reads a JSON object whose values are strings, numbers,
// booleans or null; the values of the keys the front reads must be
// strings.
func parseFlatJSON(doc string) (map[string]string, error) {
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errUnread
	}
	values := map[string]string{}
	for dec.More() {
		t, err := dec.Token()
		key, ok := t.(string)
		if err != nil || !ok {
			return nil, errUnread
		}
		if _, dup := values[key]; dup {
			return nil, errUnread
		}
		t, err = dec.Token()
		if err != nil {
			return nil, errUnread
		}
		switch v := t.(type) {
		case string:
			values[key] = v
		case json.Number, bool, nil:
			if key == "runtime" || key == "indexDir" {
				return nil, errUnread
			}
			values[key] = ""
		default: // an object or array
			return nil, errUnread
		}
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return nil, errUnread
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errUnread
	}
	return values, nil
}

func isPlainKey(k string) bool {
	for _, c := range k {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
