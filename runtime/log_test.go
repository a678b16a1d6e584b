package runtime

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kubewarden/podlock/runtime/runcargs"
)

// captureStderr redirects os.Stderr to a file for the rest of the test and
// returns a function that reads what was written.
func captureStderr(t *testing.T) func() string {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	orig := os.Stderr
	os.Stderr = f
	t.Cleanup(func() {
		os.Stderr = orig
		f.Close()
	})
	return func() string {
		data, err := os.ReadFile(f.Name())
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
}

// readJSONLines parses every line of a JSON log file.
func readJSONLines(t *testing.T, file string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(file)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var lines []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", sc.Text(), err)
		}
		lines = append(lines, m)
	}
	return lines
}

func TestLogJSON(t *testing.T) {
	tests := []struct {
		name   string
		flags  string // global flags before --log FILE --log-format json
		levels []string
	}{
		{name: "errors only by default", flags: "", levels: []string{"error"}},
		{name: "--debug", flags: "--debug", levels: []string{"debug", "info", "warn", "error"}},
		{name: "-debug", flags: "-debug", levels: []string{"debug", "info", "warn", "error"}},
		{name: "--debug=true", flags: "--debug=true", levels: []string{"debug", "info", "warn", "error"}},
		{name: "--debug=false", flags: "--debug=false", levels: []string{"error"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stderr := captureStderr(t)
			file := filepath.Join(t.TempDir(), "log.json")
			log := newLogger(runcargs.Parse(argv(tt.flags + " --root /r --log " + file + " --log-format json create --bundle /b ID")))
			log.Debug("a debug line")
			log.Info("an info line")
			log.Warn("a warning")
			log.Error("it failed: do this")

			lines := readJSONLines(t, file)
			var levels []string
			for _, l := range lines {
				levels = append(levels, l["level"].(string))
			}
			if !slices.Equal(levels, tt.levels) {
				t.Fatalf("levels = %q, want %q", levels, tt.levels)
			}
			last := lines[len(lines)-1]
			if len(last) != 3 {
				t.Errorf("error line has keys %v, want exactly level, msg and time", last)
			}
			if last["msg"] != "it failed: do this" {
				t.Errorf("msg = %q", last["msg"])
			}
			ts, _ := last["time"].(string)
			if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
				t.Errorf("time %q: %v", ts, err)
			}
			raw, _ := os.ReadFile(file)
			if !bytes.Contains(raw, []byte(`"level":"error"`)) {
				t.Errorf("log file lacks the exact bytes \"level\":\"error\" that the shim looks for:\n%s", raw)
			}
			if got, want := stderr(), "podlock-runtime: it failed: do this\n"; got != want {
				t.Errorf("stderr = %q, want %q", got, want)
			}
		})
	}
}

func TestLogAppends(t *testing.T) {
	captureStderr(t)
	file := filepath.Join(t.TempDir(), "log.json")
	if err := os.WriteFile(file, []byte(`{"level":"info","msg":"runc was here","time":"2026-01-01T00:00:00Z"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	newLogger(runcargs.Parse(argv("--log="+file+" --log-format=json delete ID"))).Error("second", "id", "ID")
	lines := readJSONLines(t, file)
	if len(lines) != 2 || lines[0]["msg"] != "runc was here" || lines[1]["msg"] != "second" || lines[1]["id"] != "ID" {
		t.Errorf("lines = %v, want runc's line kept and ours appended with its attribute", lines)
	}
}

func TestLogText(t *testing.T) {
	captureStderr(t)
	file := filepath.Join(t.TempDir(), "log")
	log := newLogger(runcargs.Parse(argv("--log " + file + " create ID")))
	log.Info("hidden")
	log.Error("shown")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.TrimSpace(string(data))
	if strings.Count(got, "\n") != 0 || !strings.Contains(got, "level=error") || !strings.Contains(got, "msg=shown") {
		t.Errorf("text log = %q, want one line with level=error msg=shown", got)
	}
}

func TestLogNoFile(t *testing.T) {
	tests := []struct {
		name  string
		flags string
	}{
		{name: "no --log", flags: "--debug"},
		{name: "empty --log", flags: "--log= --debug"},
		{name: "unwritable --log", flags: "--log /nonexistent/dir/log.json --debug"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stderr := captureStderr(t)
			log := newLogger(runcargs.Parse(argv(tt.flags + " create ID")))
			log.Debug("quiet")
			log.Info("quiet")
			log.Error("loud")
			if got := stderr(); got != "podlock-runtime: loud\n" {
				t.Errorf("stderr = %q, want only the error", got)
			}
		})
	}
}

func TestLogWithAttrsAndGroup(t *testing.T) {
	captureStderr(t)
	file := filepath.Join(t.TempDir(), "log.json")
	log := newLogger(runcargs.Parse(argv("--debug --log " + file + " --log-format json create ID")))
	log.With("container", "c").WithGroup("g").Info("grouped", "k", "v")
	lines := readJSONLines(t, file)
	if len(lines) != 1 {
		t.Fatalf("lines = %v", lines)
	}
	l := lines[0]
	g, _ := l["g"].(map[string]any)
	if l["level"] != "info" || l["container"] != "c" || g["k"] != "v" {
		t.Errorf("line = %v, want level info, container c and g.k v", l)
	}
}

// TestMainLogsErrors runs Main up to its first failure, a missing
// configuration file, and checks that the shim would see it.
func TestMainLogsErrors(t *testing.T) {
	cleanConfigEnv(t)
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	t.Setenv("PODLOCK_CONFIG", missing)
	stderr := captureStderr(t)
	file := filepath.Join(t.TempDir(), "log.json")
	code := Main(argv("--root /run/containerd/runc/k8s.io --log " + file + " --log-format json create --bundle /b --pid-file /b/init.pid ID"))
	if code != 1 {
		t.Errorf("Main() = %d, want 1", code)
	}
	lines := readJSONLines(t, file)
	if len(lines) != 1 || lines[0]["level"] != "error" || !strings.Contains(lines[0]["msg"].(string), missing) {
		t.Errorf("log lines = %v, want one error naming %s", lines, missing)
	}
	if !strings.Contains(stderr(), missing) {
		t.Errorf("stderr = %q, want the error", stderr())
	}
}
