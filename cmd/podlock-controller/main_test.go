package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/kubewarden/podlock/profiles/webhook"
)

func readme(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "install", "controller", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestFlagsDocumented keeps install/controller/README.md in step with the
// flags: every flag of --help is in its table.
func TestFlagsDocumented(t *testing.T) {
	var out bytes.Buffer
	if code := run([]string{"--help"}, &out); code != 0 {
		t.Fatalf("--help exited %d", code)
	}
	doc := readme(t)
	flags := regexp.MustCompile(`(?m)^  -([a-z0-9-]+)`).FindAllStringSubmatch(out.String(), -1)
	if len(flags) < 20 {
		t.Fatalf("found %d flags in --help:\n%s", len(flags), out.String())
	}
	for _, f := range flags {
		if !strings.Contains(doc, "`--"+f[1]+"`") {
			t.Errorf("flag --%s is not documented in install/controller/README.md", f[1])
		}
	}
}

// TestConfigKeysDocumented does the same for the configuration file.
func TestConfigKeysDocumented(t *testing.T) {
	doc := readme(t)
	typ := reflect.TypeOf(webhook.Config{})
	for i := range typ.NumField() {
		key, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		if !strings.Contains(doc, "| `"+key+"` |") {
			t.Errorf("configuration key %s is not documented in install/controller/README.md", key)
		}
	}
}

func TestBadInvocations(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--tls-mode", "none"}, `--tls-mode "none": want cert-files or self-signed`},
		{[]string{"--log-level", "loud"}, `--log-level "loud"`},
		{[]string{"extra"}, "unexpected arguments: extra"},
	} {
		var out bytes.Buffer
		if code := run(c.args, &out); code != 2 || !strings.Contains(out.String(), c.want) {
			t.Errorf("%v: exit %d, output %q; want 2 and %q", c.args, code, out.String(), c.want)
		}
	}
}

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	// The default path may be absent: defaults apply.
	cfg, err := loadConfig(&options{configPath: filepath.Join(dir, "absent.yaml")})
	if err != nil || cfg.RuntimeClassName != webhook.DefaultRuntimeClassName {
		t.Fatalf("absent default file: %+v, %v", cfg, err)
	}
	// A path given explicitly must exist.
	if _, err := loadConfig(&options{configPath: filepath.Join(dir, "absent.yaml"), configSet: true}); err == nil {
		t.Fatal("an explicit missing configuration file was accepted")
	}
	path := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(path, []byte("reservedRuntimes: [runC]\nfallbackRuntime: containerd-kata\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err = loadConfig(&options{configPath: path, configSet: true})
	if err != nil || cfg.FallbackRuntime != "containerd-kata" || cfg.ReservedRuntimes[0] != "runC" {
		t.Fatalf("%+v, %v", cfg, err)
	}
}
