package engine

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/pelletier/go-toml/v2"
)

// ParseTOML decodes a TOML file; an error names the file, line and column.
func ParseTOML(path string, data []byte) (map[string]any, error) {
	var doc map[string]any
	if err := toml.Unmarshal(data, &doc); err != nil {
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, col := de.Position()
			return nil, fmt.Errorf("parsing %s:%d:%d: %w", path, row, col, err)
		}
		return nil, fmt.Errorf("parsing %s: %w", path, err)
	}
	return doc, nil
}

// EncodeTOML encodes a document as the engines' own tools print theirs
// (`containerd config dump` uses the same library): keys sorted, tables
// indented by depth.
func EncodeTOML(doc map[string]any) ([]byte, error) {
	var buf bytes.Buffer
	enc := toml.NewEncoder(&buf)
	enc.SetIndentTables(true)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// TableAt returns the table at a key path of a decoded document, or nil.
func TableAt(doc map[string]any, keys ...string) map[string]any {
	t := doc
	for _, k := range keys {
		next, ok := t[k].(map[string]any)
		if !ok {
			return nil
		}
		t = next
	}
	return t
}
