package audit

import (
	"fmt"
	"testing"
	"time"

	"github.com/kubewarden/podlock/landlock"
)

// Records as kernel 6.18 sends them (Landlock ABI 7), for denials of the
// quickstart, the network test and the scope test.
var records = []struct {
	typ  uint16
	text string
}{
	{1423, `audit(1795683084.166:760): domain=130603042 blockers=fs.execute,fs.read_file path="/opt/bin/id" dev="vda" ino=9978145`},
	{1424, `audit(1795683084.166:760): domain=130603042 status=allocated mode=enforcing pid=100 uid=0 exe="/bin/sh" comm="sh"`},
	{1300, `audit(1795683084.166:760): arch=c000003e syscall=59 success=no exit=-13 a0=325bfb28 items=0 ppid=100 pid=101 uid=0 comm="busybox" exe="/bin/busybox" key=(null)`},
	{1320, `audit(1795683084.166:760): `},
	// The denied process is gone: the domain's owner was seen before.
	{1423, `audit(1795683084.170:761): domain=130603042 blockers=fs.make_reg path="/" dev="vda" ino=9977927`},
	{1300, `audit(1795683084.170:761): arch=c000003e syscall=257 success=no exit=-13 items=0 ppid=100 pid=999 comm="cp" exe="/bin/busybox" key=(null)`},
	{1320, `audit(1795683084.170:761): `},
	{1423, `audit(1795683082.682:747): domain=130602fb6 blockers=net.connect_tcp daddr=127.0.0.1 dest=37853`},
	{1424, `audit(1795683082.682:747): domain=130602fb6 status=allocated mode=enforcing pid=200 uid=0 exe="/.podlock/helper" comm="helper"`},
	{1300, `audit(1795683082.682:747): arch=c000003e syscall=42 success=no exit=-13 ppid=200 pid=201 comm="nc" exe="/bin/busybox" key=(null)`},
	{1320, `audit(1795683082.682:747): `},
	{1423, `audit(1795683082.886:748): domain=130602fb6 blockers=net.bind_tcp src=42417`},
	{1300, `audit(1795683082.886:748): arch=c000003e syscall=49 success=no exit=-13 ppid=200 pid=202 comm="nc" exe="/bin/busybox" key=(null)`},
	{1320, `audit(1795683082.886:748): `},
	{1423, `audit(1795683084.006:753): domain=130602ff9 blockers=scope.signal opid=29903 ocomm="sleep"`},
	{1424, `audit(1795683084.006:753): domain=130602ff9 status=allocated mode=enforcing pid=300 uid=0 exe="/bin/kill" comm="kill"`},
	{1300, `audit(1795683084.006:753): arch=c000003e syscall=62 success=no exit=-1 ppid=1 pid=300 comm="busybox" exe="/bin/busybox" key=(null)`},
	{1320, `audit(1795683084.006:753): `},
	{1423, `audit(1795683084.010:756): domain=130603020 blockers=scope.abstract_unix_socket path=00706F646C6F636B2D74657374`},
	{1300, `audit(1795683084.010:756): arch=c000003e syscall=42 success=no exit=-1 ppid=1 pid=300 comm="0" exe="/.podlock/orig/0" key=(null)`},
	{1320, `audit(1795683084.010:756): `},
	// A process of a container podlock does not confine.
	{1326, `audit(1795681986.990:709): auid=4294967295 uid=0 gid=0 ses=4294967295 pid=4000 comm="sh" exe="/bin/busybox" sig=0 arch=c000003e syscall=273 compat=0 ip=0x495a96 code=0x7ffc0000`},
	{1326, `audit(1795681986.990:710): auid=4294967295 uid=0 gid=0 ses=4294967295 pid=300 comm="sh" exe="/bin/busybox" sig=0 arch=c000003e syscall=83 compat=0 ip=0x495a96 code=0x7ffc0000`},
	{1424, `audit(1795683084.050:758): domain=130603042 status=deallocated denials=3`},
}

func TestAssembler(t *testing.T) {
	app := landlock.Owner{Namespace: "default", Pod: "web", Container: "app", Profile: "demo"}
	owners := map[int]landlock.Owner{100: app, 101: app, 200: app, 201: app, 202: app, 300: app}
	a := NewAssembler(func(pid int, _ time.Time) (landlock.Owner, bool) {
		o, ok := owners[pid]
		return o, ok
	})
	var got []string
	for _, r := range records {
		rec, err := ParseRecord(r.typ, []byte(r.text))
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range a.Add(rec) {
			if d.Owner != app {
				t.Errorf("%v: owner %+v", d, d.Owner)
			}
			got = append(got, d.String())
		}
	}
	want := []string{
		"/bin/busybox was denied fs.execute,fs.read_file on /opt/bin/id",
		"/bin/busybox was denied fs.make_reg on /",
		"/bin/busybox was denied net.connect_tcp on 127.0.0.1:37853",
		"/bin/busybox was denied net.bind_tcp on port 42417",
		"/bin/busybox was denied scope.signal on pid 29903 (sleep)",
		"/.podlock/orig/0 was denied scope.abstract_unix_socket on abstract socket @podlock-test",
		"/bin/busybox was denied seccomp on syscall 83 (arch c000003e)",
	}
	if len(got) != len(want) {
		t.Fatalf("got %d denials:\n%q\nwant %d:\n%q", len(got), got, len(want), want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("denial %d: %q, want %q", i, got[i], want[i])
		}
	}
	if len(a.domains) != 3 || len(a.events) != 0 {
		t.Errorf("left %d domains and %d events", len(a.domains), len(a.events))
	}
}

func TestParseRecord(t *testing.T) {
	for _, tc := range []struct {
		text    string
		wantErr bool
		serial  uint64
		fields  map[string]string
	}{
		{text: `audit(1795683084.166:760): a=1 b="x y" c=`, serial: 760, fields: map[string]string{"a": "1", "b": "x y", "c": ""}},
		{text: "audit(1.5:7): k=v\x00\x00", serial: 7, fields: map[string]string{"k": "v"}},
		{text: `no timestamp`, wantErr: true},
		{text: `audit(x:y): a=1`, wantErr: true},
		{text: `audit(1.2:3 a=1`, wantErr: true},
	} {
		r, err := ParseRecord(1423, []byte(tc.text))
		if (err != nil) != tc.wantErr {
			t.Errorf("%q: error %v", tc.text, err)
			continue
		}
		if err != nil {
			continue
		}
		if r.Serial != tc.serial || len(r.Fields) != len(tc.fields) {
			t.Errorf("%q: %+v", tc.text, r)
		}
		for k, v := range tc.fields {
			if r.Fields[k] != v {
				t.Errorf("%q: %s=%q, want %q", tc.text, k, r.Fields[k], v)
			}
		}
	}
}

func FuzzParseRecord(f *testing.F) {
	for _, r := range records {
		f.Add(r.text)
	}
	f.Fuzz(func(t *testing.T, text string) {
		r, err := ParseRecord(1423, []byte(text))
		if err == nil && r.Fields == nil {
			t.Fatal("no fields map")
		}
	})
}

// A domain keeps the owner first found for it: a PID reused by another
// container later does not move the domain's denials there.
func TestAssemblerKeepsDomainOwner(t *testing.T) {
	first := landlock.Owner{Namespace: "a", Pod: "first", Container: "app"}
	second := landlock.Owner{Namespace: "b", Pod: "second", Container: "app"}
	owner := first
	a := NewAssembler(func(pid int, _ time.Time) (landlock.Owner, bool) { return owner, pid == 100 })
	add := func(serial int, domain string) []Denial {
		t.Helper()
		var out []Denial
		for _, text := range []struct {
			typ  uint16
			text string
		}{
			{1423, fmt.Sprintf(`audit(1795683084.166:%d): domain=%s blockers=fs.read_file path="/etc/passwd" dev="vda" ino=1`, serial, domain)},
			{1300, fmt.Sprintf(`audit(1795683084.166:%d): arch=c000003e syscall=257 success=no exit=-13 ppid=1 pid=100 comm="cat" exe="/bin/busybox" key=(null)`, serial)},
			{1320, fmt.Sprintf(`audit(1795683084.166:%d): `, serial)},
		} {
			rec, err := ParseRecord(text.typ, []byte(text.text))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, a.Add(rec)...)
		}
		return out
	}
	if d := add(1, "1a"); len(d) != 1 || d[0].Owner != first {
		t.Fatalf("first denial: %+v", d)
	}
	owner = second // PID 100 is now another container's process
	if d := add(2, "1a"); len(d) != 1 || d[0].Owner != first {
		t.Errorf("same domain: %+v, want the first owner", d)
	}
	if d := add(3, "2b"); len(d) != 1 || d[0].Owner != second {
		t.Errorf("new domain: %+v, want the second owner", d)
	}
}
