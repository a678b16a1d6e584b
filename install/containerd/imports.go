package containerd

import (
	"bytes"
	"fmt"

	"github.com/pelletier/go-toml/v2/unstable"

	"github.com/kubewarden/podlock/install/engine"
)

// The main configuration file belongs to the administrator (and often to a
// configuration-management tool that diffs it), so the installer edits it
// as text, touching only the top-level `imports` array: every other byte,
// comments and layout included, stays as it was. The TOML parser tells where
// that array and its elements are.

// addedComment ends the `imports` line the installer adds when the file has
// none, so that uninstall knows it may remove the whole line.
const addedComment = "# added by podlock-install"

// addedLine is the line the installer adds when the file has no `imports`.
func addedLine(entry string) string {
	return "imports = [" + engine.Quote(entry) + "] " + addedComment
}

// topLevel is what the installer needs to know about a document's top-level
// keys, as byte offsets into it.
type topLevel struct {
	// versionEnd is the offset just after the value of `version`, or -1.
	versionEnd int
	// imports is the `imports` array, or nil when there is none.
	imports *importsArray
}

type importsArray struct {
	start, end int // the key-value, from its key to the closing bracket
	open       int // just after the opening bracket
	elems      []importsElem
}

type importsElem struct {
	start, end int // the quoted string
	value      string
}

// scanTopLevel finds `version` and `imports` among the keys before the
// first table header (where top-level keys must be). The document has
// already been parsed successfully; errors here are about its shape.
func scanTopLevel(path string, data []byte) (*topLevel, error) {
	top := &topLevel{versionEnd: -1}
	var p unstable.Parser
	p.Reset(data)
	for p.NextExpression() {
		e := p.Expression()
		if e.Kind == unstable.Table || e.Kind == unstable.ArrayTable {
			break
		}
		if e.Kind != unstable.KeyValue {
			continue
		}
		var parts []string
		var lastKey unstable.Range
		for it := e.Key(); it.Next(); {
			parts = append(parts, string(it.Node().Data))
			lastKey = it.Node().Raw
		}
		if len(parts) != 1 {
			continue
		}
		switch parts[0] {
		case "version":
			top.versionEnd = int(e.Raw.Offset + e.Raw.Length)
		case "imports":
			arr, err := scanImports(data, e, lastKey)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			top.imports = arr
		}
	}
	if err := p.Error(); err != nil {
		return nil, fmt.Errorf("parsing %s: %w", path, err)
	}
	return top, nil
}

func scanImports(data []byte, kv *unstable.Node, lastKey unstable.Range) (*importsArray, error) {
	value := kv.Value()
	if value.Kind != unstable.Array {
		return nil, fmt.Errorf("imports is a %s, not an array of paths", value.Kind)
	}
	arr := &importsArray{start: int(kv.Raw.Offset), end: int(kv.Raw.Offset + kv.Raw.Length)}
	// The opening bracket follows the key, blanks, '=' and blanks.
	i := int(lastKey.Offset + lastKey.Length)
	i = skipBlanks(data, i)
	if i >= len(data) || data[i] != '=' {
		return nil, fmt.Errorf("imports: expected '=' at offset %d", i)
	}
	i = skipBlanks(data, i+1)
	if i >= len(data) || data[i] != '[' {
		return nil, fmt.Errorf("imports: expected '[' at offset %d", i)
	}
	arr.open = i + 1
	for it := value.Children(); it.Next(); {
		n := it.Node()
		if n.Kind != unstable.String {
			return nil, fmt.Errorf("imports has a %s element, not a path", n.Kind)
		}
		arr.elems = append(arr.elems, importsElem{
			start: int(n.Raw.Offset),
			end:   int(n.Raw.Offset + n.Raw.Length),
			value: string(n.Data),
		})
	}
	return arr, nil
}

func skipBlanks(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t') {
		i++
	}
	return i
}

// addImport returns data with entry appended to its top-level `imports`,
// or with an `imports` line added after `version` when it has none.
func addImport(path string, data []byte, entry string) ([]byte, error) {
	top, err := scanTopLevel(path, data)
	if err != nil {
		return nil, err
	}
	if arr := top.imports; arr != nil {
		if len(arr.elems) == 0 {
			return splice(data, arr.open, arr.open, engine.Quote(entry)), nil
		}
		last := arr.elems[len(arr.elems)-1]
		if at, indent, ok := ownLineAfter(data, arr, last); ok {
			return splice(data, at, at, indent+engine.Quote(entry)+","+lineEnding(data)), nil
		}
		return splice(data, last.end, last.end, ", "+engine.Quote(entry)), nil
	}
	nl := lineEnding(data)
	line := addedLine(entry)
	if top.versionEnd < 0 {
		// Callers require a version; a document without one gets the line
		// first, where a top-level key is always valid.
		return splice(data, 0, 0, line+nl), nil
	}
	i := bytes.IndexByte(data[top.versionEnd:], '\n')
	if i < 0 {
		// `version` is on the last line, which has no newline: keep the
		// file without a final newline, so that uninstall restores it.
		return splice(data, len(data), len(data), nl+line), nil
	}
	at := top.versionEnd + i + 1
	return splice(data, at, at, line+nl), nil
}

// ownLineAfter tells whether an array is written one element per line with
// a comma after the last one, as hand-written lists of paths often are; if
// so, where a new line goes (after the last element's line) and the
// indentation of that line.
func ownLineAfter(data []byte, arr *importsArray, last importsElem) (at int, indent string, ok bool) {
	if !bytes.Contains(data[arr.open:last.start], []byte("\n")) {
		return 0, "", false
	}
	i := skipBlanks(data, last.end)
	if i >= len(data) || data[i] != ',' {
		return 0, "", false
	}
	i = skipBlanks(data, i+1)
	if i < len(data) && data[i] == '#' {
		for i < len(data) && data[i] != '\n' {
			i++
		}
	}
	if i < len(data) && data[i] == '\r' {
		i++
	}
	if i >= len(data) || data[i] != '\n' {
		return 0, "", false
	}
	lineStart := bytes.LastIndexByte(data[:last.start], '\n') + 1
	prefix := data[lineStart:last.start]
	if len(bytes.Trim(prefix, " \t")) != 0 {
		return 0, "", false
	}
	return i + 1, string(prefix), true
}

// aloneOnLine tells whether an element is alone on its line (with the
// comma after it), and that line's bounds.
func aloneOnLine(data []byte, e importsElem) (start, end int, ok bool) {
	start = bytes.LastIndexByte(data[:e.start], '\n') + 1
	if len(bytes.Trim(data[start:e.start], " \t")) != 0 {
		return 0, 0, false
	}
	i := skipBlanks(data, e.end)
	if i < len(data) && data[i] == ',' {
		i = skipBlanks(data, i+1)
	}
	if i < len(data) && data[i] == '\r' {
		i++
	}
	if i >= len(data) || data[i] != '\n' {
		return 0, 0, false
	}
	return start, i + 1, true
}

// removeImport returns data without entry in its top-level `imports`, and
// whether it was there. It undoes addImport exactly: a line addImport
// added (the whole `imports` line, or an element on a line of its own) is
// removed whole; an element it appended to a line is removed with the
// separator before it.
func removeImport(path string, data []byte, entry string) ([]byte, bool, error) {
	removed := false
	for {
		top, err := scanTopLevel(path, data)
		if err != nil {
			return nil, false, err
		}
		arr := top.imports
		if arr == nil {
			return data, removed, nil
		}
		k := -1
		for i, e := range arr.elems {
			if e.value == entry {
				k = i
				break
			}
		}
		if k < 0 {
			return data, removed, nil
		}
		removed = true
		lineStart := bytes.LastIndexByte(data[:arr.start], '\n') + 1
		lineEnd := len(data)
		if i := bytes.IndexByte(data[arr.end:], '\n'); i >= 0 {
			lineEnd = arr.end + i + 1
		}
		line := string(bytes.TrimRight(data[lineStart:lineEnd], "\r\n"))
		ownStart, ownEnd, alone := aloneOnLine(data, arr.elems[k])
		switch {
		case line == addedLine(entry) && lineEnd == len(data) && !bytes.HasSuffix(data, []byte("\n")) && lineStart > 0:
			// The added line is the last, without a newline: the newline
			// before it was added with it.
			cut := lineStart - 1
			if cut > 0 && data[cut-1] == '\r' {
				cut--
			}
			data = splice(data, cut, lineEnd, "")
		case line == addedLine(entry):
			data = splice(data, lineStart, lineEnd, "")
		case len(arr.elems) > 1 && alone:
			data = splice(data, ownStart, ownEnd, "")
		case k > 0:
			data = splice(data, arr.elems[k-1].end, arr.elems[k].end, "")
		case len(arr.elems) > 1:
			data = splice(data, arr.elems[0].start, arr.elems[1].start, "")
		default:
			data = splice(data, arr.elems[0].start, arr.elems[0].end, "")
		}
	}
}

// splice returns data with data[from:to] replaced by s, in a new slice.
func splice(data []byte, from, to int, s string) []byte {
	out := make([]byte, 0, len(data)-(to-from)+len(s))
	out = append(out, data[:from]...)
	out = append(out, s...)
	return append(out, data[to:]...)
}

// lineEnding is the file's own: CRLF when it has any, else LF.
func lineEnding(data []byte) string {
	if bytes.Contains(data, []byte("\r\n")) {
		return "\r\n"
	}
	return "\n"
}
