package audit

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Record is one audit record: "audit(SECONDS.MILLIS:SERIAL): key=value ...".
type Record struct {
	Type   uint16
	Time   time.Time
	Serial uint64
	Fields map[string]string
}

// ParseRecord parses the text of a record of the given type.
func ParseRecord(typ uint16, data []byte) (Record, error) {
	text := string(bytes.TrimRight(data, "\x00\n"))
	rest, ok := strings.CutPrefix(text, "audit(")
	if !ok {
		return Record{}, fmt.Errorf("audit record %d: no timestamp: %q", typ, text)
	}
	stamp, rest, ok := strings.Cut(rest, "):")
	if !ok {
		return Record{}, fmt.Errorf("audit record %d: no timestamp: %q", typ, text)
	}
	when, serial, ok := strings.Cut(stamp, ":")
	if !ok {
		return Record{}, fmt.Errorf("audit record %d: bad timestamp %q", typ, stamp)
	}
	sec, milli, _ := strings.Cut(when, ".")
	s, err1 := strconv.ParseInt(sec, 10, 64)
	ms, err2 := strconv.ParseInt(milli, 10, 64)
	n, err3 := strconv.ParseUint(serial, 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return Record{}, fmt.Errorf("audit record %d: bad timestamp %q", typ, stamp)
	}
	return Record{Type: typ, Time: time.Unix(s, ms*int64(time.Millisecond)), Serial: n, Fields: fields(rest)}, nil
}

// fields splits `key=value key="quoted value"` pairs. The kernel quotes
// values that are safe to print and hex-encodes the others.
func fields(s string) map[string]string {
	out := map[string]string{}
	for {
		s = strings.TrimLeft(s, " ")
		if s == "" {
			return out
		}
		key, rest, ok := strings.Cut(s, "=")
		if !ok {
			return out
		}
		var value string
		if strings.HasPrefix(rest, `"`) {
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				value, rest = rest[1:], ""
			} else {
				value, rest = rest[1:1+end], rest[2+end:]
			}
		} else {
			end := strings.IndexByte(rest, ' ')
			if end < 0 {
				end = len(rest)
			}
			value, rest = rest[:end], rest[end:]
		}
		out[key] = value
		s = rest
	}
}
