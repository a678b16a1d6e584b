package execwrap

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/kubewarden/podlock/runtime/runcargs"
)

func decodeJSON(t *testing.T, data []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%v: %s", err, data)
	}
	return v
}

func TestArgv(t *testing.T) {
	tests := []struct{ name, argv, want string }{
		{"command", "--root /r exec -t ID sh -c id", "--root /r exec --no-new-privs -t ID /.podlock/helper sh -c id"},
		{"valued flags", "exec --user 1000 --cwd /tmp ID ls -l", "exec --no-new-privs --user 1000 --cwd /tmp ID /.podlock/helper ls -l"},
		{"no command", "exec ID", "exec ID"},
		{"no ID", "exec", "exec"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			argv := append([]string{"podlock-runtime"}, strings.Fields(tt.argv)...)
			got, err := Argv(runcargs.Parse(argv))
			want := append([]string{"podlock-runtime"}, strings.Fields(tt.want)...)
			if err != nil || !slices.Equal(got, want) {
				t.Errorf("Argv = %q, %v; want %q", got, err, want)
			}
		})
	}
}

func TestEditProcessFile(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    string
		wantErr string
	}{
		{
			name:    "runc exec --process",
			content: `{"terminal": false, "user": {"uid": 1000, "gid": 1000}, "args": ["sh", "-c", "id"], "cwd": "/", "x-future": 18446744073709551615}`,
			want:    `{"terminal": false, "user": {"uid": 1000, "gid": 1000}, "args": ["/.podlock/helper", "sh", "-c", "id"], "cwd": "/", "noNewPrivileges": true, "x-future": 18446744073709551615}`,
		},
		{name: "no args", content: `{"cwd": "/"}`, wantErr: "process has no args"},
		{name: "malformed", content: `{"args": [`, wantErr: "parsing process file"},
		{name: "not an object", content: `["sh"]`, wantErr: "parsing process file"},
		{name: "missing", content: "-", wantErr: "reading process file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "process.json")
			if tt.content != "-" {
				if err := os.WriteFile(file, []byte(tt.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			err := EditProcessFile(file)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("EditProcessFile() = %v, want an error containing %q", err, tt.wantErr)
				}
				if tt.content != "-" {
					if data, _ := os.ReadFile(file); string(data) != tt.content {
						t.Errorf("file changed on error: %s", data)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("EditProcessFile() = %v", err)
			}
			data, _ := os.ReadFile(file)
			if got, want := decodeJSON(t, data), decodeJSON(t, []byte(tt.want)); !reflect.DeepEqual(got, want) {
				t.Errorf("process file = %s\nwant %s", data, tt.want)
			}
			if fi, _ := os.Stat(file); fi.Mode() != 0o600 {
				t.Errorf("mode = %v, want 0600", fi.Mode())
			}
		})
	}
}
