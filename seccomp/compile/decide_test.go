//go:build cgo && linux

package compile

import (
	"testing"

	"github.com/kubewarden/podlock/profiles/v1alpha1"
)

func TestDecide(t *testing.T) {
	p, err := Compile(&v1alpha1.SeccompProfileSpec{DefaultAction: v1alpha1.ActionAllow, Syscalls: []v1alpha1.SyscallRule{
		condRule("read", v1alpha1.ActionErrno, uintp(42), v1alpha1.ArgCondition{Index: 2, Value: 7, Op: v1alpha1.OpEqualTo}),
		condRule("mseal", v1alpha1.ActionLog, nil),
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		args [6]uint64
		want uint32
	}{
		{"read", [6]uint64{0, 0, 7}, retErrno(42)},
		{"read", [6]uint64{0, 0, 8}, retAllow},
		{"write", [6]uint64{}, retAllow},
		// Newer than Debian 12's libseccomp: known by its number.
		{"mseal", [6]uint64{}, retLog},
	} {
		got, err := Decide(p, c.name, c.args)
		if err != nil {
			t.Fatalf("%s%v: %v", c.name, c.args, err)
		}
		if got != c.want {
			t.Errorf("%s%v: got %#x, want %#x", c.name, c.args, got, c.want)
		}
	}
	for _, name := range []string{"no_such_call", "chown32"} { // chown32 is not a call of x86_64 or aarch64
		if _, err := Decide(p, name, [6]uint64{}); err == nil {
			t.Errorf("Decide(%s): no error", name)
		}
	}
}
