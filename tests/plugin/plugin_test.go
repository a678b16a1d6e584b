package plugin

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/kubewarden/podlock/tests/internal/testenv"
)

const (
	recordedFrom = "podlock.kubewarden.io/recorded-from"
	kept         = "podlock.kubewarden.io/rules-before-record"
)

// The profile in force before learning, and what podlock-node publishes
// after recording it: a LandlockProfile web-recorded and a SeccompProfile
// web-recorded-app, labelled with the profile recorded, the evidence in
// their status.
const (
	webProfile = `{"apiVersion":"podlock.kubewarden.io/v1alpha1","kind":"LandlockProfile","metadata":{"name":"web","labels":{"team":"shop"}},
	"spec":{"bestEffort":true,"profilesByContainer":{"app":{"/bin/sh":{"readExec":["/bin"],"readOnly":["/etc"]}}}}}`
	webRecorded = `{"apiVersion":"podlock.kubewarden.io/v1alpha1","kind":"LandlockProfile",
	"metadata":{"name":"web-recorded","labels":{"` + recordedFrom + `":"web"}},
	"spec":{"mode":"Enforce","profilesByContainer":{"app":{"/bin/sh":{"readExec":["/bin"],"readWrite":["/tmp"],"network":{"connectTCP":[443]}}}},
	"seccompByContainer":{"app":"web-recorded-app"}}}`
	webRecordedStatus = `{"status":{"recording":{"source":"web","nodes":["node-a","node-b"],"rules":[
	{"container":"app","binary":"/bin/sh","kind":"path","value":"/tmp","access":"readWrite","count":12,"pods":["web-1","web-2"],"nodes":["node-a","node-b"],"firstSeen":"2026-12-01T10:00:00Z","lastSeen":"2026-12-01T11:00:00Z"},
	{"container":"app","binary":"/bin/sh","kind":"path","value":"/bin","access":"readExec","count":40,"pods":["web-1","web-2"],"nodes":["node-a","node-b"],"firstSeen":"2026-12-01T10:00:00Z","lastSeen":"2026-12-01T11:00:00Z"},
	{"container":"app","binary":"/bin/sh","kind":"connectTCP","value":"443","count":1,"pods":["web-2"],"nodes":["node-b"],"firstSeen":"2026-12-01T10:30:00Z","lastSeen":"2026-12-01T10:30:00Z"}]}}}`
	webRecordedSeccomp = `{"apiVersion":"podlock.kubewarden.io/v1alpha1","kind":"SeccompProfile",
	"metadata":{"name":"web-recorded-app","labels":{"` + recordedFrom + `":"web"}},
	"spec":{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read","write"],"action":"SCMP_ACT_ALLOW"}]}}`
	webRecordedSeccompStatus = `{"status":{"recording":{"source":"web","nodes":["node-a"],"rules":[
	{"container":"app","kind":"syscall","value":"read","count":100,"pods":["web-1"],"nodes":["node-a"],"firstSeen":"2026-12-01T10:00:00Z","lastSeen":"2026-12-01T11:00:00Z"}]}}}`
)

// landlockProfile is the part of a LandlockProfile the tests check.
type landlockProfile struct {
	Metadata struct {
		Labels          map[string]string `json:"labels"`
		Annotations     map[string]string `json:"annotations"`
		ResourceVersion string            `json:"resourceVersion"`
	} `json:"metadata"`
	Spec map[string]any `json:"spec"`
}

func TestPlugin(t *testing.T) {
	e := newEnv(t, "")
	e.namespace("shop", nil)
	e.namespace("other", map[string]string{"podlock.kubewarden.io/landlock-profile": "base"})
	e.create("shop", "landlockprofiles", webProfile)
	e.create("shop", "landlockprofiles", `{"apiVersion":"podlock.kubewarden.io/v1alpha1","kind":"LandlockProfile","metadata":{"name":"api"},"spec":{"containerWide":{"app":{"readOnly":["/"]}}}}`)
	var original landlockProfile
	e.get(profilePath("shop", "landlockprofiles", "web"), &original)

	e.node("node-a", map[string]string{"podlock.kubewarden.io/ready": "true", "podlock.kubewarden.io/landlock-version": "7"})
	e.node("node-b", map[string]string{"podlock.kubewarden.io/ready": "false", "podlock.kubewarden.io/landlock-version": "4"})
	e.node("node-c", nil)

	web1 := e.pod("shop", "web-1", "node-a", map[string]string{"podlock.kubewarden.io/profile": "web"}, nil)
	e.pod("shop", "unbound", "node-a", nil, nil)
	api1 := e.pod("shop", "api-1", "node-b", map[string]string{"podlock.kubewarden.io/profile": "api"}, nil)
	e.pod("other", "job-1", "node-b", nil, map[string]string{"podlock.kubewarden.io/namespace-profile": "base"})
	now := time.Now()
	e.denial("shop", "web-1", web1, "node-a", "container app: /bin/sh was denied fs.write_file on /etc/passwd (profile web)", 3, now.Add(-5*time.Minute))
	// A pod that is gone: its profile is read from the message.
	e.denial("shop", "web-0", "0a0a0a0a-0000-0000-0000-000000000000", "node-b", "container app: /bin/sh was denied fs.read_file on /root/.ssh/id_rsa (profile web)", 1, now.Add(-10*time.Minute))
	e.denial("shop", "api-1", api1, "node-b", "container app: /bin/cat was denied fs.read_file on /secret (profile api)", 2, now)

	t.Run("help", func(t *testing.T) {
		e := e.sub(t)
		for _, cmd := range [][]string{{}, {"status"}, {"diff"}, {"promote"}, {"record"}, {"apply-seccomp"}, {"convert"}, {"convert", "landlockconfig", "export"}, {"convert", "seccomp", "import"}} {
			args := append(cmd, "--help")
			out := e.succeeds(e.offline("", args...), args)
			if !strings.Contains(out, "USAGE:") {
				t.Errorf("%v --help:\n%s", cmd, out)
			}
		}
	})

	t.Run("status", func(t *testing.T) {
		e := e.sub(t)
		out := e.ok("status", "-n", "shop")
		for _, want := range []string{
			"shop       api      Enforce  0            -", "shop       web      Enforce  0            -",
			"shop       web-1  web", "api-1", "node-a  true", "node-b  false", "node-c  no podlock-node",
			"shop       api      2        ", "shop       web      4        ", "/bin/sh was denied fs.write_file on /etc/passwd (profile web)",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("status lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, "unbound") || strings.Contains(out, "job-1") {
			t.Errorf("status shows a pod bound to no profile, or another namespace's:\n%s", out)
		}
		// The latest denial first: api's.
		if strings.Index(out, "shop       api") > strings.Index(out, "shop       web      4") {
			t.Errorf("the profile with the latest denial is not first:\n%s", out)
		}

		var report struct {
			Pods []struct {
				Namespace, Name, Profile, NamespaceProfile, Node string
			}
			Nodes []struct {
				Name, Ready string
				LandlockABI int
			}
			Denials []struct {
				Namespace, Profile string
				Count              int
			}
		}
		for _, format := range []string{"json", "yaml"} {
			out := e.ok("status", "-A", "-o", format)
			if err := yaml.Unmarshal([]byte(out), &report); err != nil {
				t.Fatalf("-o %s: %v\n%s", format, err, out)
			}
			if len(report.Pods) != 3 || len(report.Nodes) != 3 || len(report.Denials) != 2 {
				t.Fatalf("-o %s: want 3 pods, 3 nodes and 2 profiles with denials:\n%s", format, out)
			}
			if p := report.Pods[0]; p.Namespace != "other" || p.NamespaceProfile != "base" {
				t.Errorf("-o %s: a pod bound by its namespace: %+v", format, p)
			}
			if n := report.Nodes[0]; n.Name != "node-a" || n.Ready != "true" || n.LandlockABI != 7 {
				t.Errorf("-o %s: node-a: %+v", format, n)
			}
			if d := report.Denials[1]; d.Profile != "web" || d.Count != 4 {
				t.Errorf("-o %s: web's denials: %+v", format, d)
			}
		}
	})

	t.Run("record and --stop", func(t *testing.T) {
		e := e.sub(t)
		out := e.ok("record", "web", "-n", "shop")
		if !strings.Contains(out, "LandlockProfile shop/web records (mode Record)") {
			t.Errorf("record: %s", out)
		}
		var p landlockProfile
		e.get(profilePath("shop", "landlockprofiles", "web"), &p)
		if !reflect.DeepEqual(p.Spec, map[string]any{"mode": "Record", "bestEffort": true}) || p.Metadata.Annotations[kept] == "" {
			t.Fatalf("in mode Record: %+v", p)
		}
		if r := e.run("", "record", "web", "-n", "shop"); r.err == nil || !strings.Contains(r.stderr, "in mode Record already") {
			t.Errorf("recording twice: %v %s", r.err, r.stderr)
		}

		out = e.ok("record", "web", "--stop", "-n", "shop", "-o", "json")
		p = landlockProfile{}
		if err := json.Unmarshal([]byte(out), &p); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(p.Spec, original.Spec) || p.Metadata.Annotations[kept] != "" || p.Metadata.Labels["team"] != "shop" {
			t.Fatalf("after --stop: %+v\nwant the spec %v", p, original.Spec)
		}
		if r := e.run("", "record", "web", "--stop", "-n", "shop"); r.err == nil || !strings.Contains(r.stderr, "not Record") {
			t.Errorf("stopping twice: %v %s", r.err, r.stderr)
		}
		out = e.ok("record", "web", "-n", "shop", "-o", "yaml")
		if !strings.HasPrefix(out, "apiVersion: podlock.kubewarden.io/v1alpha1\nkind: LandlockProfile\n") {
			t.Errorf("record -o yaml is no manifest:\n%s", out)
		}
	})

	t.Run("nothing recorded", func(t *testing.T) {
		e := e.sub(t)
		for _, cmd := range []string{"diff", "promote"} {
			r := e.run("", cmd, "web", "-n", "shop", "--yes")
			if cmd == "diff" {
				r = e.run("", cmd, "web", "-n", "shop")
			}
			if r.err == nil || !strings.Contains(r.stderr, "nothing is recorded: there is no LandlockProfile web-recorded; record it with `kubectl podlock record web -n shop`") {
				t.Errorf("%s: %v %s", cmd, r.err, r.stderr)
			}
		}
	})

	// What podlock-node publishes.
	e.create("shop", "landlockprofiles", webRecorded)
	e.do(http.StatusOK, http.MethodPatch, profilePath("shop", "landlockprofiles", "web-recorded")+"/status", webRecordedStatus)
	e.create("shop", "seccompprofiles", webRecordedSeccomp)
	e.do(http.StatusOK, http.MethodPatch, profilePath("shop", "seccompprofiles", "web-recorded-app")+"/status", webRecordedSeccompStatus)

	t.Run("status shows the recording", func(t *testing.T) {
		e := e.sub(t)
		var report struct {
			Profiles []struct {
				Name, Mode, Recording          string
				RecordingRules, RecordingNodes int
			}
		}
		out := e.ok("status", "-n", "shop", "-o", "json")
		if err := json.Unmarshal([]byte(out), &report); err != nil {
			t.Fatal(err)
		}
		want := []struct {
			Name, Mode, Recording          string
			RecordingRules, RecordingNodes int
		}{{"api", "Enforce", "", 0, 0}, {"web", "Record", "web-recorded", 3, 2}}
		if !reflect.DeepEqual(report.Profiles, want) {
			t.Errorf("profiles %+v\nwant %+v", report.Profiles, want)
		}
		if out := e.ok("status", "-n", "shop"); !strings.Contains(out, "shop       web      Record   0            web-recorded  3               2") {
			t.Errorf("status:\n%s", out)
		}
	})

	t.Run("diff", func(t *testing.T) {
		e := e.sub(t)
		out := e.ok("diff", "web", "-n", "shop")
		for _, want := range []string{
			"LandlockProfile shop/web (the rules kept aside while it records) against its recording web-recorded on node-a, node-b: 4 added, 1 removed, 1 the same",
			"+  app        -        syscall     read   -          100   web-1        node-a",
			"+  app        -        syscall     write  -          -     -            -              -",
			"+  app        /bin/sh  connectTCP  443    -          1     web-2        node-b",
			"=  app        /bin/sh  path        /bin   readExec   40    web-1,web-2  node-a,node-b",
			"-  app        /bin/sh  path        /etc   readOnly   -     -",
			"+  app        /bin/sh  path        /tmp   readWrite  12    web-1,web-2  node-a,node-b",
			"Denials of pods bound to web:",
			"web-1  app        node-a  3      5m",
			"web-0  app        node-b  1      10m",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("diff lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, "/secret") {
			t.Errorf("diff shows another profile's denial:\n%s", out)
		}

		var report struct {
			Nodes []string
			Rules []struct {
				Change, Container, Binary, Kind, Value, Access string
				Evidence                                       *struct {
					Count int
					Pods  []string
				}
			}
			Denials []struct{ Pod, Message string }
		}
		for _, format := range []string{"json", "yaml"} {
			out := e.ok("diff", "web", "-n", "shop", "-o", format)
			if err := yaml.Unmarshal([]byte(out), &report); err != nil {
				t.Fatalf("-o %s: %v\n%s", format, err, out)
			}
			if len(report.Rules) != 6 || len(report.Denials) != 2 || len(report.Nodes) != 2 {
				t.Fatalf("-o %s: want 6 rules, 2 denials, 2 nodes:\n%s", format, out)
			}
			tmp := report.Rules[5]
			if tmp.Change != "added" || tmp.Value != "/tmp" || tmp.Evidence == nil || tmp.Evidence.Count != 12 || len(tmp.Evidence.Pods) != 2 {
				t.Errorf("-o %s: the /tmp rule: %+v", format, tmp)
			}
		}
	})

	t.Run("an incomplete recording", func(t *testing.T) {
		e := e.sub(t)
		e.do(http.StatusOK, http.MethodPatch, profilePath("shop", "landlockprofiles", "web-recorded"),
			`{"metadata":{"annotations":{"podlock.kubewarden.io/recording-incomplete":"container app: 12 accesses left out"}}}`)
		defer e.do(http.StatusOK, http.MethodPatch, profilePath("shop", "landlockprofiles", "web-recorded"),
			`{"metadata":{"annotations":{"podlock.kubewarden.io/recording-incomplete":null}}}`)
		if out := e.ok("diff", "web", "-n", "shop"); !strings.Contains(out, "The recording is incomplete: a recording was full, and what it left out is not here:\ncontainer app: 12 accesses left out\n") {
			t.Errorf("diff of an incomplete recording:\n%s", out)
		}
		if out := e.ok("diff", "web", "-n", "shop", "-o", "json"); !strings.Contains(out, `"incomplete": "container app: 12 accesses left out"`) {
			t.Errorf("diff -o json of an incomplete recording:\n%s", out)
		}
	})

	t.Run("promote", func(t *testing.T) {
		e := e.sub(t)
		if r := e.run("n\n", "promote", "web", "-n", "shop"); r.err == nil || !strings.Contains(r.stderr, `not promoted: the answer was "n"`) {
			t.Errorf("answered n: %v\n%s\n%s", r.err, r.stdout, r.stderr)
		}
		var p landlockProfile
		e.get(profilePath("shop", "landlockprofiles", "web"), &p)
		if p.Spec["mode"] != "Record" {
			t.Fatalf("promoted without a yes: %v", p.Spec)
		}

		// The profile changes between the diff shown and the answer: the
		// write conflicts, and is retried on the new version.
		cmd := e.command("promote", "web", "-n", "shop")
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		shown := waitFor(t, stdout, "[y/N] ")
		if !strings.Contains(shown, "+  app        /bin/sh  path        /tmp") {
			t.Errorf("promote did not show the diff:\n%s", shown)
		}
		e.do(http.StatusOK, http.MethodPatch, profilePath("shop", "landlockprofiles", "web"), `{"metadata":{"labels":{"reviewed-by":"alice"}}}`)
		if _, err := stdin.Write([]byte("y\n")); err != nil {
			t.Fatal(err)
		}
		stdin.Close()
		rest, _ := io.ReadAll(stdout)
		if err := cmd.Wait(); err != nil {
			t.Fatalf("promote: %v\n%s\n%s", err, rest, stderr.String())
		}
		if !strings.Contains(stderr.String(), "LandlockProfile shop/web changed while promoting; retrying on its new version") {
			t.Errorf("no conflict reported: %s", stderr.String())
		}
		if !strings.Contains(string(rest), "LandlockProfile shop/web promoted from web-recorded") {
			t.Errorf("promote printed: %s", rest)
		}

		e.get(profilePath("shop", "landlockprofiles", "web"), &p)
		want := map[string]any{
			"bestEffort":          true,
			"mode":                "Enforce",
			"profilesByContainer": map[string]any{"app": map[string]any{"/bin/sh": map[string]any{"readExec": []any{"/bin"}, "readWrite": []any{"/tmp"}, "network": map[string]any{"connectTCP": []any{443.0}}}}},
			"seccompByContainer":  map[string]any{"app": "web-app"},
		}
		if !reflect.DeepEqual(p.Spec, want) {
			t.Errorf("promoted spec %v\nwant %v", p.Spec, want)
		}
		if p.Metadata.Labels["reviewed-by"] != "alice" || p.Metadata.Labels["team"] != "shop" || p.Metadata.Annotations[kept] != "" {
			t.Errorf("promoted metadata: labels %v, annotations %v", p.Metadata.Labels, p.Metadata.Annotations)
		}
		var seccomp struct {
			Metadata struct{ Labels map[string]string } `json:"metadata"`
			Spec     map[string]any                     `json:"spec"`
		}
		e.get(profilePath("shop", "seccompprofiles", "web-app"), &seccomp)
		if seccomp.Metadata.Labels["podlock.kubewarden.io/promoted-from"] != "web" || seccomp.Metadata.Labels[recordedFrom] != "" || seccomp.Spec["defaultAction"] != "SCMP_ACT_ERRNO" {
			t.Errorf("SeccompProfile web-app: %+v", seccomp)
		}

		// Again, with --yes: the diff says the same, and the copy is
		// updated in place.
		out := e.ok("promote", "web", "-n", "shop", "--yes", "-o", "json")
		p = landlockProfile{}
		if err := json.Unmarshal([]byte(out), &p); err != nil || p.Spec["mode"] != "Enforce" {
			t.Errorf("promote -o json: %v\n%s", err, out)
		}
		if out := e.ok("diff", "web", "-n", "shop"); !strings.Contains(out, "0 added, 0 removed, 5 the same") {
			t.Errorf("diff after promote:\n%s", out)
		}

		// A recording naming a SeccompProfile that is not there is not
		// promoted.
		e.create("shop", "landlockprofiles", strings.ReplaceAll(webRecorded, "web", "api"))
		r := e.run("", "promote", "api", "-n", "shop", "--yes")
		if r.err == nil || !strings.Contains(r.stderr, "not promoted: shop/api-recorded names the SeccompProfile api-recorded-app for container app, which does not exist") {
			t.Errorf("promote with a missing SeccompProfile: %v %s", r.err, r.stderr)
		}
		// A SeccompProfile promote did not write is not overwritten.
		e.create("shop", "seccompprofiles", strings.ReplaceAll(webRecordedSeccomp, "web", "api"))
		e.create("shop", "seccompprofiles", `{"apiVersion":"podlock.kubewarden.io/v1alpha1","kind":"SeccompProfile","metadata":{"name":"api-app"},"spec":{"defaultAction":"SCMP_ACT_ALLOW"}}`)
		r = e.run("", "promote", "api", "-n", "shop", "--yes")
		if r.err == nil || !strings.Contains(r.stderr, "SeccompProfile shop/api-app from api-recorded-app: it exists and promote did not write it") {
			t.Errorf("promote over a user's SeccompProfile: %v %s", r.err, r.stderr)
		}
	})

	t.Run("apply-seccomp", func(t *testing.T) {
		e := e.sub(t)
		file := filepath.Join(testenv.ModuleRoot(), "seccomp", "oci", "testdata", "fine-grained.json")
		if out := e.ok("apply-seccomp", file, "--name", "fine-grained", "-n", "shop"); !strings.Contains(out, "SeccompProfile shop/fine-grained created") {
			t.Errorf("apply-seccomp: %s", out)
		}
		if out := e.ok("apply-seccomp", file, "--name", "fine-grained", "-n", "shop"); !strings.Contains(out, "SeccompProfile shop/fine-grained configured") {
			t.Errorf("apply-seccomp again: %s", out)
		}
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var fileSpec, stored map[string]any
		if err := json.Unmarshal(data, &fileSpec); err != nil {
			t.Fatal(err)
		}
		var obj struct{ Spec map[string]any }
		e.get(profilePath("shop", "seccompprofiles", "fine-grained"), &obj)
		stored = obj.Spec
		if !reflect.DeepEqual(stored, fileSpec) {
			t.Errorf("stored %v\nnot the file's %v", stored, fileSpec)
		}
	})

	t.Run("convert round trip through the API server", func(t *testing.T) {
		e := e.sub(t)
		var manifest strings.Builder
		r := e.offline(webProfile, "convert", "landlockconfig", "export", "--container", "app", "--binary", "/bin/sh", "--format", "toml", "-")
		if r.err != nil {
			t.Fatalf("export: %v %s", r.err, r.stderr)
		}
		r = e.offline(r.stdout, "convert", "landlockconfig", "import", "--format", "toml", "--name", "web-copy", "--container", "app", "--binary", "/bin/sh", "-")
		if r.err != nil {
			t.Fatalf("import: %v %s", r.err, r.stderr)
		}
		manifest.WriteString(r.stdout)
		e.cp.Apply(t, []byte(manifest.String()))
		var copied landlockProfile
		e.get(profilePath("default", "landlockprofiles", "web-copy"), &copied)
		delete(original.Spec, "bestEffort")
		if !reflect.DeepEqual(copied.Spec, original.Spec) {
			t.Errorf("round trip: %v\nwant %v", copied.Spec, original.Spec)
		}
	})

	t.Run("errors", func(t *testing.T) {
		e := e.sub(t)
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"status", "-o", "wide"}, `unknown output format "wide"`},
			{[]string{"diff"}, "diff takes one argument, the LandlockProfile's name, not 0"},
			{[]string{"diff", "Web"}, "Web"},
			{[]string{"diff", "missing", "-n", "shop"}, `LandlockProfile shop/missing: landlockprofiles.podlock.kubewarden.io "missing" not found`},
			{[]string{"record", "web", "--nope"}, "flag provided but not defined: -nope"},
		} {
			r := e.run("", tc.args...)
			if r.err == nil || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("%v: %v, stderr %q, want %q", tc.args, r.err, r.stderr, tc.want)
			}
		}
	})
}

// A user with the permissions the README lists, in one namespace only,
// runs every command; status leaves out the nodes it may not list.
func TestNamespaceUser(t *testing.T) {
	e := newEnv(t, "dev")
	e.namespace("shop", nil)
	e.cp.Apply(t, []byte(`
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: podlock-dev, namespace: shop}
rules:
- apiGroups: [""]
  resources: [pods, events]
  verbs: [list]
- apiGroups: [podlock.kubewarden.io]
  resources: [landlockprofiles]
  verbs: [get, list, update]
- apiGroups: [podlock.kubewarden.io]
  resources: [seccompprofiles]
  verbs: [get, create, update]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: podlock-dev, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: podlock-dev}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: dev}
`))
	e.create("shop", "landlockprofiles", webProfile)
	e.node("node-a", map[string]string{"podlock.kubewarden.io/ready": "true"})

	r := e.run("", "status", "-n", "shop")
	if r.err != nil || !strings.Contains(r.stderr, "kubectl-podlock: nodes not shown: ") || strings.Contains(r.stdout, "node-a") || !strings.Contains(r.stdout, "shop       web      Enforce") {
		t.Errorf("status: %v\n%s\n%s", r.err, r.stdout, r.stderr)
	}
	e.ok("record", "web", "-n", "shop")
	e.create("shop", "landlockprofiles", webRecorded)
	e.create("shop", "seccompprofiles", webRecordedSeccomp)
	e.ok("diff", "web", "-n", "shop")
	e.ok("promote", "web", "-n", "shop", "--yes")
	e.ok("record", "web", "-n", "shop")
	e.ok("record", "web", "--stop", "-n", "shop")
	file := filepath.Join(testenv.ModuleRoot(), "seccomp", "oci", "testdata", "fine-grained.json")
	e.ok("apply-seccomp", file, "--name", "fine-grained", "-n", "shop")
	e.ok("apply-seccomp", file, "--name", "fine-grained", "-n", "shop")

	// Elsewhere, the API server's refusal names what is missing.
	e.namespace("other", nil)
	r = e.run("", "diff", "web", "-n", "other")
	if r.err == nil || !strings.Contains(r.stderr, `landlockprofiles.podlock.kubewarden.io "web" is forbidden: User "dev" cannot get resource "landlockprofiles"`) {
		t.Errorf("diff in another namespace: %v %s", r.err, r.stderr)
	}
}
