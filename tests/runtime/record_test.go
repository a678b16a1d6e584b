package runtime_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/kubewarden/podlock/profiles/dir"
	"github.com/kubewarden/podlock/profiles/v1alpha1"
	"github.com/kubewarden/podlock/runtime/record/evidence"
	"github.com/kubewarden/podlock/seccomp/helpercalls"
	"github.com/kubewarden/podlock/tests/internal/testenv"
)

const recordProfile = `
apiVersion: podlock.kubewarden.io/v1alpha1
kind: LandlockProfile
metadata:
  name: learned
spec:
  mode: Record
`

// recordScript reads, writes, creates, lists, executes and connects; extra
// is run before it prints "done".
func recordScript(port int, extra string) string {
	return fmt.Sprintf(`set -e
cat /etc/passwd > /dev/null
echo hello > /tmp/greeting
cat /tmp/greeting
mkdir /tmp/cache
echo cached > /tmp/cache/entry
ls /opt/bin
/opt/bin/id -u
nc 127.0.0.1 %d
%s
echo done
`, port, extra)
}

// Learning mode: a container whose profile is in mode Record runs
// unconfined and observed; the profiles written for it, applied, let the
// same script run again with no denial, and deny exactly what it did not
// do.
func TestRecord(t *testing.T) {
	records := t.TempDir()
	e := newEnv(t, "PODLOCK_RECORD_DIR="+records)
	e.profile("learned", recordProfile)
	port := loopbackPort(t)

	run := func(name, extra string) testenv.Result {
		t.Helper()
		b := testenv.NewBundle(t, "sh", "-c", recordScript(port, extra)).Annotate("default", "app", "learned")
		hostNetwork(b)
		if err := os.WriteFile(filepath.Join(b.Dir, "rootfs", "etc", "secret"), []byte("s3cret\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		b.Write(t)
		return e.rt.Run(b, name)
	}
	wantOut := []string{"hello", "id", "0", "hello", "done"}

	res := run("record", "")
	if res.Err != nil {
		t.Fatalf("recorded run: %v %s %q", res.Err, res.Stderr, e.rt.LogErrors(t))
	}
	wantLines(t, "recorded stdout", res.Stdout, wantOut)
	wantLines(t, "recorded stderr", res.Stderr, nil)
	recorded := testenv.WaitForRecording(t, records, "default", "learned")
	t.Logf("recorded:\n%s", recorded)
	checkRecording(t, recorded, port)
	checkEvidence(t, filepath.Join(records, "default", "learned.yaml"), port)

	// Applying the recording replaces the profile in mode Record.
	e.profile("learned", string(recorded))
	res = run("replay", "")
	if res.Err != nil {
		t.Fatalf("run with the recorded profiles: %v %s %q", res.Err, res.Stderr, e.rt.LogErrors(t))
	}
	wantLines(t, "replayed stdout", res.Stdout, wantOut)
	wantLines(t, "replayed stderr", res.Stderr, nil)

	res = run("one-more", "cat /etc/secret || true")
	if res.Err != nil {
		t.Fatalf("run with one more path: %v %s %q", res.Err, res.Stderr, e.rt.LogErrors(t))
	}
	wantLines(t, "stdout with one more path", res.Stdout, wantOut)
	wantLines(t, "stderr with one more path", res.Stderr, []string{"cat: can't open '/etc/secret': Permission denied"})

	// The recording saw one port: any other is denied.
	res = run("one-more-port", fmt.Sprintf("nc 127.0.0.1 %d || true", loopbackPort(t)))
	if res.Err != nil {
		t.Fatalf("run with one more port: %v %s %q", res.Err, res.Stderr, e.rt.LogErrors(t))
	}
	wantLines(t, "stdout with one more port", res.Stdout, wantOut)
	wantLines(t, "stderr with one more port", res.Stderr, []string{"nc: can't connect to remote host (127.0.0.1): Permission denied"})

	// Landlock does not control chmod(2); the recorded SeccompProfile,
	// which never saw it, does.
	res = run("one-more-syscall", "chmod 600 /tmp/greeting || true")
	if res.Err != nil {
		t.Fatalf("run with one more system call: %v %s %q", res.Err, res.Stderr, e.rt.LogErrors(t))
	}
	wantLines(t, "stdout with one more system call", res.Stdout, wantOut)
	wantLines(t, "stderr with one more system call", res.Stderr, []string{"chmod: /tmp/greeting: Operation not permitted"})
}

// checkRecording checks the parts of the recorded profiles that the test's
// script determines.
func checkRecording(t *testing.T, recorded []byte, port int) {
	t.Helper()
	landlock, seccomps := parseRecording(t, recorded)
	if len(seccomps) != 1 {
		t.Fatalf("%d SeccompProfiles recorded for one container", len(seccomps))
	}
	seccomp := seccomps[0]
	if landlock.Metadata.Name != "learned" || landlock.Spec.Records() {
		t.Errorf("LandlockProfile %q in mode %q, want learned, enforcing", landlock.Metadata.Name, landlock.Spec.Mode)
	}
	if err := landlock.Spec.Validate(); err != nil {
		t.Errorf("recorded LandlockProfile is invalid: %v", err)
	}
	if got := landlock.Spec.SeccompByContainer["app"]; got != "learned-app" || seccomp.Metadata.Name != "learned-app" {
		t.Errorf("seccompByContainer[app] = %q, SeccompProfile %q, want learned-app", got, seccomp.Metadata.Name)
	}
	busybox, ok := landlock.Spec.ProfilesByContainer["app"]["/bin/busybox"]
	if !ok {
		t.Fatalf("no rules for /bin/busybox: %+v", landlock.Spec.ProfilesByContainer)
	}
	for _, want := range []struct {
		list []string
		path string
	}{
		{busybox.ReadOnly, "/etc/passwd"},
		{busybox.ReadWrite, "/tmp"},
		{busybox.ReadExec, "/opt/bin/id"},
	} {
		if !slices.Contains(want.list, want.path) {
			t.Errorf("/bin/busybox rules %+v do not list %s", busybox, want.path)
		}
	}
	if busybox.Network == nil || !slices.Equal(busybox.Network.ConnectTCP, []int32{int32(port)}) {
		t.Errorf("/bin/busybox network = %+v, want connectTCP [%d]", busybox.Network, port)
	}
	if _, ok := landlock.Spec.ProfilesByContainer["app"]["/opt/bin/id"]; !ok {
		t.Errorf("no rules for /opt/bin/id, which the script executed")
	}
	rules := seccomp.Spec.Syscalls
	if len(rules) == 0 || !slices.Contains(rules[0].Names, "connect") || slices.Contains(rules[0].Names, "ptrace") {
		t.Fatalf("recorded system calls %+v: want connect, not ptrace", rules)
	}
	// The binaries are listed: the helper's calls follow, as rules of
	// their own.
	if !reflect.DeepEqual(rules[1:], helpercalls.Rules()) {
		t.Errorf("rules after the calls seen %+v, want podlock-helper's %+v", rules[1:], helpercalls.Rules())
	}
}

// checkEvidence checks that the evidence file next to the recording holds
// one run, in one pod, for the rules the script needed.
func checkEvidence(t *testing.T, recording string, port int) {
	t.Helper()
	ev, err := evidence.Read(evidence.FileOf(recording))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]evidence.Rule{}
	for _, r := range ev.Rules {
		seen[r.Binary+" "+r.Kind+" "+r.Value+" "+r.Access] = r
	}
	for _, key := range []string{
		"/bin/busybox path /etc/passwd readOnly",
		"/bin/busybox path /opt/bin/id readExec",
		fmt.Sprintf("/bin/busybox connectTCP %d ", port),
		" syscall connect ",
	} {
		r, ok := seen[key]
		if !ok || r.Count != 1 || len(r.Pods) != 1 || r.FirstSeen.IsZero() || r.LastSeen.Before(r.FirstSeen) {
			t.Errorf("evidence of %q: %+v (found: %v)", key, r, ok)
		}
	}
}

// Exec sessions into a recorded container are recorded with it, each
// through a listener of its own.
func TestRecordExec(t *testing.T) {
	records := t.TempDir()
	e := newEnv(t, "PODLOCK_RECORD_DIR="+records)
	e.profile("learned", recordProfile)
	b := testenv.NewBundle(t, "sleep", "300").Annotate("default", "app", "learned")
	b.Write(t)
	const id = "record-exec"
	if res := e.rt.Command("run", "--detach", "--bundle", b.Dir, id); res.Err != nil {
		t.Fatalf("run: %v %s %q", res.Err, res.Stderr, e.rt.LogErrors(t))
	}
	res := e.rt.Command("exec", id, "cat", "/etc/motd")
	wantLines(t, "exec stdout", res.Stdout, []string{"welcome to podlock"})
	if res := e.rt.Command("delete", "--force", id); res.Err != nil {
		t.Fatalf("delete: %v %s", res.Err, res.Stderr)
	}
	recorded := testenv.WaitForRecording(t, records, "default", "learned")
	landlock, _ := parseRecording(t, recorded)
	rules := landlock.Spec.ProfilesByContainer["app"]["/bin/busybox"]
	if !slices.Contains(rules.ReadOnly, "/etc/motd") {
		t.Errorf("the exec session's read of /etc/motd is not recorded: %+v", rules)
	}
}

// parseRecording decodes recorded manifests strictly, as podlock-runtime
// reads profiles.
func parseRecording(t *testing.T, recorded []byte) (v1alpha1.LandlockProfile, []v1alpha1.SeccompProfile) {
	t.Helper()
	docs, err := dir.Documents(recorded)
	if err != nil {
		t.Fatal(err)
	}
	var landlock v1alpha1.LandlockProfile
	var seccomps []v1alpha1.SeccompProfile
	for _, doc := range docs {
		var meta v1alpha1.TypeMeta
		if err := json.Unmarshal(doc, &meta); err != nil {
			t.Fatal(err)
		}
		switch meta.Kind {
		case v1alpha1.KindLandlockProfile:
			err = v1alpha1.Decode(doc, &landlock)
		case v1alpha1.KindSeccompProfile:
			var s v1alpha1.SeccompProfile
			err = v1alpha1.Decode(doc, &s)
			seccomps = append(seccomps, s)
		}
		if err != nil {
			t.Fatalf("%s: %v", meta.Kind, err)
		}
	}
	return landlock, seccomps
}
