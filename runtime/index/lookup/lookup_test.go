package lookup

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseFileName(t *testing.T) {
	key := Key("/usr/sbin/runc", "/run/containerd/runc/k8s.io")
	tests := []struct {
		name, id, key string
		ok            bool
	}{
		{FileName("abc", key), "abc", key, true},
		{FileName("a.b", key), "a.b", key, true},
		{FileName("abc", ""), "abc", "", true},
		{"abc.0123.json", "abc.0123", "", true},
		{"abc", "", "", false},
		{".json", "", "", false},
	}
	for _, tt := range tests {
		id, k, ok := ParseFileName(tt.name)
		if id != tt.id || k != tt.key || ok != tt.ok {
			t.Errorf("ParseFileName(%q) = %q, %q, %v; want %q, %q, %v", tt.name, id, k, ok, tt.id, tt.key, tt.ok)
		}
	}
	if Key("/usr/sbin/runc", "/r/") != Key("/usr/sbin/runc", "/r") || Key("/usr/sbin/runc", "/r") == Key("/usr/bin/crun", "/r") {
		t.Error("keys of the same root differ, or of different runtimes agree")
	}
}

func TestFind(t *testing.T) {
	dir := t.TempDir()
	here, there := Key("runc", "/a"), Key("runc", "/b")
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(FileName("wide", here), `{"id":"wide","key":"`+here+`","execHelper":true}`)
	write(FileName("narrow", here), `{"id":"narrow","key":"`+here+`"}`)
	write(FileName("moved", there), `{"id":"moved","key":"`+there+`"}`)
	write(FileName("liar", here), `{"id":"other","key":"`+here+`"}`)
	if err := os.Symlink("/dev/zero", filepath.Join(dir, FileName("link", here))); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		id      string
		want    Found
		wantErr bool
	}{
		{id: "wide", want: Found{Indexed: true, ExecHelper: true}},
		{id: "narrow", want: Found{Indexed: true}},
		{id: "moved", want: Found{Elsewhere: true}},
		{id: "absent", want: Found{}},
		{id: "liar", wantErr: true},
		{id: "link", wantErr: true},
	}
	for _, tt := range tests {
		got, err := Find(dir, tt.id, here)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("Find(%s) = %+v, %v; want %+v, error %v", tt.id, got, err, tt.want, tt.wantErr)
		}
	}
	if got, err := Find(filepath.Join(dir, "none"), "wide", here); err != nil || got != (Found{}) {
		t.Errorf("Find in a missing index = %+v, %v; want nothing", got, err)
	}
}

func TestValidateID(t *testing.T) {
	for id, ok := range map[string]bool{
		"0123abcdef": true, "my_container-1.2+x": true, ".hidden": true,
		"": false, ".": false, "..": false, "a/b": false, "a b": false, "a\x00": false, "é": false,
		strings.Repeat("a", maxIDLength): true, strings.Repeat("a", maxIDLength+1): false,
	} {
		if err := ValidateID(id); (err == nil) != ok {
			t.Errorf("ValidateID(%q) = %v, want ok %v", id, err, ok)
		}
	}
}

func TestRemove(t *testing.T) {
	dir := t.TempDir()
	key := Key("/usr/sbin/runc", "")
	file := filepath.Join(dir, FileName("c1", key))
	if err := os.WriteFile(file, []byte(`{}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Remove(dir, "c1", key); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("entry still there: %v", err)
	}
	if err := Remove(dir, "c1", key); err != nil {
		t.Errorf("Remove of a missing entry: %v", err)
	}
	outside := filepath.Join(filepath.Dir(dir), FileName("x", key))
	if err := os.WriteFile(outside, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(outside)
	if err := Remove(dir, "../x", key); err == nil {
		t.Error("Remove accepted the ID ../x")
	}
	if _, err := os.Stat(outside); err != nil {
		t.Errorf("a file outside the index went: %v", err)
	}
}
