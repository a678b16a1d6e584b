package e2e_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/kubewarden/podlock/tests/internal/cluster"
	"github.com/kubewarden/podlock/tests/internal/podlockctl"
	"github.com/kubewarden/podlock/tests/internal/testenv"
)

// quickstartConfined is what the quickstart script prints under the demo
// profile; hostname is the first line of /etc/hostname in a pod of the
// host network: the node's host name, which the CRI writes.
func quickstartConfined(hostname string) (stdout, stderr []string) {
	return []string{hostname, "copied motd to /tmp", "done"}, []string{
		"sh: /opt/bin/id: Permission denied",
		"cp: can't create '/motd': Permission denied",
		"cp: can't open '/etc/passwd': Permission denied",
	}
}

// A container confined as a whole: its entrypoint and every exec session.
const wideProfile = `
apiVersion: podlock.kubewarden.io/v1alpha1
kind: LandlockProfile
metadata:
  name: wide
  namespace: default
spec:
  containerWide:
    app:
      readExec: [/bin]
      readWrite: [/tmp]
      readOnly: [/etc/hostname, /etc/passwd]
`

// A seccomp profile denying mkdir, bound to container app.
const seccompProfiles = `
apiVersion: podlock.kubewarden.io/v1alpha1
kind: SeccompProfile
metadata:
  name: no-mkdir
  namespace: default
spec:
  defaultAction: SCMP_ACT_ALLOW
  syscalls:
  - names: [mkdir, mkdirat]
    action: SCMP_ACT_ERRNO
---
apiVersion: podlock.kubewarden.io/v1alpha1
kind: LandlockProfile
metadata:
  name: seccomp-only
  namespace: default
spec:
  seccompByContainer:
    app: no-mkdir
`

func TestPodlock(t *testing.T) {
	c := cluster.Start(t, cluster.Options{})
	podlockctl.Start(t, c.API, controllerConfig)
	c.API.Apply(t, []byte(testenv.QuickstartProfile))
	c.API.Apply(t, []byte(wideProfile))
	c.API.Apply(t, []byte(seccompProfiles))
	// The host name a pod of the host network sees in /etc/hostname.
	_, ref := run(t, c, pod("hostname", "cat /etc/hostname", withRuntimeClass(cluster.RuntimeClassRunc)))
	hostname := strings.TrimSpace(ref.Stdout)
	if hostname == "" {
		t.Fatalf("no host name in a plain runc pod: %q", ref)
	}

	// Users label pods, nothing else: the webhook sets the runtime class
	// and the annotation the runtime reads.
	t.Run("quickstart", func(t *testing.T) {
		p, log := run(t, c, pod("quickstart", testenv.QuickstartScript, withProfile("demo")))
		stdout, stderr := quickstartConfined(hostname)
		wantLines(t, "stdout", log.Stdout, stdout)
		wantLines(t, "stderr", log.Stderr, stderr)
		if p.Annotations[profileKey] != "demo" || p.Spec.RuntimeClassName == nil || *p.Spec.RuntimeClassName != cluster.RuntimeClassPodlock {
			t.Errorf("pod not admitted for podlock: annotations %v runtime class %v", p.Annotations, p.Spec.RuntimeClassName)
		}
	})

	t.Run("seccomp profile denies mkdir in the running pod", func(t *testing.T) {
		p := start(t, c, pod("seccomp", "mkdir /tmp/x; echo x > /tmp/file && cat /tmp/file; "+longRunning, withProfile("seccomp-only")))
		// stdout and stderr reach the log through separate pipes: wait
		// for both.
		log := waitLog(t, c, p, "app", 0, func(l cluster.Log) bool { return l.Stdout != "" && l.Stderr != "" })
		wantLines(t, "stdout", log.Stdout, []string{"x"})
		wantLines(t, "stderr", log.Stderr, []string{"mkdir: can't create directory '/tmp/x': Operation not permitted"})
		// The filter covers exec sessions too.
		res, err := c.CRIExec(cluster.ContainerID(p, "app"), 10*time.Second, "mkdir", "/tmp/y")
		if err != nil {
			t.Fatal(err)
		}
		if res.ExitCode == 0 || !strings.Contains(res.Stderr, "mkdir: can't create directory '/tmp/y': Operation not permitted") {
			t.Errorf("mkdir in an exec session: %+v", res)
		}
		res, err = c.CRIExec(cluster.ContainerID(p, "app"), 10*time.Second, "touch", "/tmp/z")
		if err != nil || res.ExitCode != 0 {
			t.Errorf("touch in an exec session: %+v %v", res, err)
		}
	})

	t.Run("a pod of a missing profile is refused at admission", func(t *testing.T) {
		p := pod("absent", "echo UNCONFINED", withProfile("absent"))
		_, err := c.TryCreatePod(p)
		if err == nil || !strings.Contains(err.Error(), `LandlockProfile \"absent\", which does not exist`) || !strings.Contains(err.Error(), "denied the request") {
			t.Fatalf("pod admitted, or not for the missing profile: %v", err)
		}
	})

	t.Run("a profile deleted between admission and container creation: no start, reason in events", func(t *testing.T) {
		testMissingProfile(t, c)
	})

	t.Run("a profile in use stays until its last pod is gone", func(t *testing.T) {
		c.API.Apply(t, []byte(strings.Replace(wideProfile, "name: wide", "name: kept", 1)))
		p := start(t, c, pod("keeper", longRunning, withProfile("kept")))
		const path = "/apis/podlock.kubewarden.io/v1alpha1/namespaces/default/landlockprofiles/kept"
		eventually(t, "the in-use finalizer", func() bool {
			return strings.Contains(get(t, c, path), "podlock.kubewarden.io/in-use")
		})
		if status, body, err := c.API.Do("DELETE", path, nil); err != nil || status != 200 {
			t.Fatalf("deleting the profile: %d %v %s", status, err, body)
		}
		if obj := get(t, c, path); !strings.Contains(obj, "deletionTimestamp") {
			t.Fatalf("the profile is not pending deletion: %s", obj)
		}
		// The pod keeps running confined meanwhile.
		if res, err := c.CRIExec(cluster.ContainerID(p, "app"), 10*time.Second, "cat", "/etc/group"); err != nil || res.ExitCode == 0 {
			t.Errorf("exec while the profile is pending: %+v %v", res, err)
		}
		c.DeletePod(t, p.Namespace, p.Name, true)
		eventually(t, "the profile to go with its last pod", func() bool {
			status, _, err := c.API.Do("GET", path, nil)
			return err == nil && status == 404
		})
	})

	t.Run("exec through CRI into a container-wide confined container", func(t *testing.T) {
		p := start(t, c, pod("wide", longRunning, withProfile("wide")))
		id := cluster.ContainerID(p, "app")
		for _, tc := range []struct {
			cmd            []string
			exit           int32
			stdout, stderr string
		}{
			{[]string{"cat", "/etc/hostname"}, 0, hostname + "\n", ""},
			{[]string{"cat", "/etc/group"}, 1, "", "cat: can't open '/etc/group': Permission denied\n"},
			// Not executable under the rules: the helper refuses (126).
			{[]string{"/opt/bin/id"}, 126, "", "podlock-helper: executing /opt/bin/id: permission denied\n"},
			{[]string{"sh", "-c", "echo ok > /tmp/ok && cat /tmp/ok; echo no > /etc/nope"}, 1, "ok\n", "sh: can't create /etc/nope: Permission denied\n"},
		} {
			res, err := c.CRIExec(id, 10*time.Second, tc.cmd...)
			if err != nil {
				log, _ := c.Logs(t, p, "app", 0)
				t.Fatalf("%v\ncontainer log: %q", err, log)
			}
			if res.ExitCode != tc.exit || res.Stdout != tc.stdout || res.Stderr != tc.stderr {
				t.Errorf("exec %v: %+v, want exit %d stdout %q stderr %q", tc.cmd, res, tc.exit, tc.stdout, tc.stderr)
			}
		}
	})

	t.Run("pods without podlock run as with runc", func(t *testing.T) {
		_, want := run(t, c, pod("plain-runc", testenv.QuickstartScript, withRuntimeClass(cluster.RuntimeClassRunc)))
		if strings.Contains(want.Stderr, "denied") || !strings.Contains(want.Stdout, "uid=0(root)") {
			t.Fatalf("the runc pod is confined? %q", want)
		}
		for _, tc := range []struct {
			name string
			pod  *corev1.Pod
		}{
			{"no runtime class", pod("plain-default", testenv.QuickstartScript)},
			{"podlock runtime class, no profile", pod("plain-podlock", testenv.QuickstartScript, withRuntimeClass(cluster.RuntimeClassPodlock))},
			{"podlock runtime class, container not in the profile", pod("plain-other", testenv.QuickstartScript, withProfile("demo"), withContainerName("other"))},
			{"another runtime class with a profile annotation but no label", pod("plain-annotated", testenv.QuickstartScript, withAnnotation(profileKey, "demo"), withRuntimeClass(cluster.RuntimeClassRunc))},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, got := run(t, c, tc.pod)
				if got != want {
					t.Errorf("log differs from plain runc's:\n got %q\nwant %q", got, want)
				}
			})
		}
	})

	t.Run("kubectl debug: a debug container runs only when the profile names it, confined", func(t *testing.T) {
		testEphemeralContainers(t, c, hostname)
	})

	t.Run("a namespace's LandlockProfile confines its pods, whatever their own profile", func(t *testing.T) {
		testNamespaceProfile(t, c, hostname)
	})

	// Last: it stops the apiserver.
	t.Run("learning mode: record, apply, run again with no denial, deny one more path", func(t *testing.T) {
		testRecord(t, c)
	})

	t.Run("apiserver down: cached profile or no start, never unconfined", func(t *testing.T) {
		testAPIServerDown(t, c, hostname)
	})
}

// A profile deleted after its pod was admitted and before the pod's
// container is created (the race is forced: the pod is bound to the node
// only after the test deleted the profile and removed its in-use
// finalizer): the container never runs. containerd 2.x creates
// the OCI container when it starts the task, so the kubelet reports
// StartError (exit 128) with podlock-runtime's message, in the pod's
// status and events; older containerd releases say CreateContainerError;
// both are accepted.
func testMissingProfile(t *testing.T, c *cluster.Cluster) {
	c.API.Apply(t, []byte(strings.Replace(testenv.QuickstartProfile, "name: demo", "name: racy", 1)))
	created := c.CreateUnboundPod(t, pod("racy", "echo UNCONFINED", withProfile("racy")))
	t.Cleanup(func() { c.DeletePod(t, created.Namespace, created.Name, false) })
	// Deleted first, so that the controller cannot put the finalizer
	// back (an object being deleted takes no new finalizers), then freed.
	const path = "/apis/podlock.kubewarden.io/v1alpha1/namespaces/default/landlockprofiles/racy"
	if status, body, err := c.API.Do("DELETE", path, nil); err != nil || status != 200 {
		t.Fatalf("deleting the profile: %d %v %s", status, err, body)
	}
	if status, body, err := c.API.Do("PATCH", path, []byte(`{"metadata":{"finalizers":null}}`)); err != nil || (status != 200 && status != 404) {
		t.Fatalf("removing the finalizer: %d %v %s", status, err, body)
	}
	c.BindPod(t, created.Namespace, created.Name)
	const want = `LandlockProfile "racy", which does not exist in namespace default`
	var msg string
	got := c.WaitPod(t, created.Namespace, created.Name, time.Minute, "failed to start", func(p *corev1.Pod) bool {
		for _, cs := range p.Status.ContainerStatuses {
			switch s := cs.State; {
			case s.Terminated != nil && s.Terminated.Reason == "StartError":
				msg = s.Terminated.Message
				return true
			case s.Waiting != nil && (s.Waiting.Reason == "CreateContainerError" || s.Waiting.Reason == "RunContainerError"):
				msg = s.Waiting.Message
				return true
			}
		}
		return false
	})
	if !strings.Contains(msg, "OCI runtime create failed") || !strings.Contains(msg, want) {
		t.Errorf("container status message %q, want OCI runtime create failed and %q", msg, want)
	}
	var failed []string
	found := false
	for _, e := range c.Events(t, got.Namespace, got.Name) {
		if e.Type == corev1.EventTypeWarning && e.Reason == "Failed" {
			failed = append(failed, e.Message)
			found = found || (strings.Contains(e.Message, "OCI runtime create failed") && strings.Contains(e.Message, want))
		}
	}
	if !found {
		t.Errorf("no Failed event naming the profile; Failed events: %q", failed)
	}
	// The container never ran: the CRI never started it and it wrote
	// nothing.
	containers, err := c.PodContainers(string(got.UID))
	if err != nil {
		t.Fatal(err)
	}
	for _, ctr := range containers {
		st, err := c.ContainerStatus(ctr.Id)
		if err != nil {
			t.Fatal(err)
		}
		if st.State == runtimeapi.ContainerState_CONTAINER_RUNNING || st.StartedAt != 0 {
			t.Errorf("container %s of the pod started: state %s, started at %d", ctr.Id, st.State, st.StartedAt)
		}
	}
	if log, _ := c.Logs(t, got, "app", 0); log.Stdout != "" || log.Stderr != "" {
		t.Errorf("the container wrote %q", log)
	}
}

// The kubelet re-creates an exited container of a restartPolicy Always pod
// on its own, so containers are created (podlock-runtime create) while the
// apiserver is down: each must run under the copy of the profile kept on
// the node, or not at all; none may run unconfined.
func testAPIServerDown(t *testing.T, c *cluster.Cluster, hostname string) {
	c.API.Apply(t, []byte(strings.Replace(testenv.QuickstartProfile, "name: demo", "name: outage", 1)))
	wantOut, wantErr := quickstartConfined(hostname)
	confined := func(l cluster.Log) bool {
		return strings.Join(testenv.Lines(l.Stdout), "\n") == strings.Join(wantOut, "\n") &&
			strings.Join(testenv.Lines(l.Stderr), "\n") == strings.Join(wantErr, "\n")
	}
	p := pod("outage", testenv.QuickstartScript, withProfile("outage"), withRestartAlways)
	created := c.CreatePod(t, p)
	t.Cleanup(func() { c.DeletePod(t, created.Namespace, created.Name, false) })
	// Once restarted, the profile has been read (and kept) at least once.
	running := c.WaitPod(t, created.Namespace, created.Name, time.Minute, "restarted", func(p *corev1.Pod) bool {
		return len(p.Status.ContainerStatuses) > 0 && p.Status.ContainerStatuses[0].RestartCount >= 1
	})
	if log, _ := c.Logs(t, running, "app", 0); !confined(log) {
		t.Fatalf("first run not confined: %q", log)
	}
	if _, err := os.Stat(filepath.Join(c.PodlockCacheDir(), "landlockprofile", "default", "outage.json")); err != nil {
		t.Errorf("no copy of the profile on the node: %v", err)
	}

	c.API.Stop()
	t.Cleanup(func() { c.RestartAPIServer(t) })
	down := time.Now().UnixNano()

	// Watch the containers the kubelet creates from now on, through the
	// CRI: the kubelet removes old instances and their logs as it goes.
	checked := map[string]bool{}
	ran := 0
	deadline := time.Now().Add(30 * time.Second)
	for ran < 2 && time.Now().Before(deadline) {
		containers, err := c.PodContainers(string(running.UID))
		if err != nil {
			t.Fatal(err)
		}
		for _, ctr := range containers {
			if ctr.CreatedAt < down || checked[ctr.Id] || ctr.State != runtimeapi.ContainerState_CONTAINER_EXITED {
				continue
			}
			st, err := c.ContainerStatus(ctr.Id)
			if err != nil {
				continue // removed meanwhile
			}
			data, err := os.ReadFile(st.LogPath)
			if err != nil {
				continue
			}
			checked[ctr.Id] = true
			log := cluster.ParseCRILog(data)
			if !confined(log) {
				t.Errorf("container %s created with the apiserver down ran unconfined or wrong:\nstdout %q\nstderr %q", ctr.Id, log.Stdout, log.Stderr)
			}
			ran++
		}
		time.Sleep(200 * time.Millisecond)
	}
	if ran == 0 {
		// Not starting is allowed; running unconfined is not, and was
		// checked above. podlock keeps copies, so this is unexpected.
		t.Errorf("no container was created in 30s with the apiserver down (podlock-runtime keeps a copy of the profile: it should have run confined)")
	}
	t.Logf("%d containers created with the apiserver down ran confined by the kept profile", ran)
}

// recordScript reads, writes, lists and executes; extra runs before the
// end.
func recordScript(extra string) string {
	return "cat /etc/passwd >/dev/null; echo hi > /tmp/x; cat /tmp/x; ls /opt/bin; /opt/bin/id -u; " + extra + "echo done"
}

// Learning mode through containerd, under the kubelet's RuntimeDefault
// filter: the recorded profiles, applied with the API server, let the same
// script run again with no denial and deny exactly one more path.
func testRecord(t *testing.T, c *cluster.Cluster) {
	c.API.Apply(t, []byte(`
apiVersion: podlock.kubewarden.io/v1alpha1
kind: LandlockProfile
metadata:
  name: learned
  namespace: default
spec:
  mode: Record
`))
	wantOut := []string{"hi", "id", "0", "done"}
	_, log := run(t, c, pod("learn", recordScript(""), withProfile("learned"), withRuntimeDefault))
	wantLines(t, "recorded stdout", log.Stdout, wantOut)
	wantLines(t, "recorded stderr", log.Stderr, nil)

	recorded := testenv.WaitForRecording(t, c.PodlockRecordDir(), "default", "learned")
	t.Logf("recorded:\n%s", recorded)
	c.API.Apply(t, recorded)
	if got := get(t, c, "/apis/podlock.kubewarden.io/v1alpha1/namespaces/default/landlockprofiles/learned"); strings.Contains(got, `"mode"`) {
		t.Fatalf("the applied profile is still in mode Record: %s", got)
	}

	_, log = run(t, c, pod("learned", recordScript(""), withProfile("learned"), withRuntimeDefault))
	wantLines(t, "stdout under the recorded profiles", log.Stdout, wantOut)
	wantLines(t, "stderr under the recorded profiles", log.Stderr, nil)

	_, log = run(t, c, pod("learned-more", recordScript("cat /etc/group; "), withProfile("learned"), withRuntimeDefault))
	wantLines(t, "stdout with one more path", log.Stdout, wantOut)
	wantLines(t, "stderr with one more path", log.Stderr, []string{"cat: can't open '/etc/group': Permission denied"})
}

// withRuntimeDefault gives the pod the container runtime's default seccomp
// filter, as Pod Security's restricted level requires.
func withRuntimeDefault(p *corev1.Pod) {
	p.Spec.SecurityContext = &corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
}
