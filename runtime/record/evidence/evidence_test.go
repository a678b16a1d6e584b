package evidence

import "testing"

func TestCovers(t *testing.T) {
	rule := Rule{Container: "web", Binary: "/bin/app", Kind: KindPath, Value: "/etc", Access: "readWrite"}
	for _, tt := range []struct {
		seen Rule
		want bool
	}{
		{Rule{Container: "web", Binary: "/bin/app", Kind: KindPath, Value: "/etc/a", Access: "readOnly"}, true},
		{Rule{Container: "web", Binary: "/bin/app", Kind: KindPath, Value: "/etc", Access: "readWrite"}, true},
		{Rule{Container: "web", Binary: "/bin/app", Kind: KindPath, Value: "/etcetera", Access: "readOnly"}, false},
		{Rule{Container: "web", Binary: "/bin/app", Kind: KindPath, Value: "/etc/a", Access: "readExec"}, false},
		{Rule{Container: "web", Binary: "/bin/sh", Kind: KindPath, Value: "/etc/a", Access: "readOnly"}, false},
		{Rule{Container: "db", Binary: "/bin/app", Kind: KindPath, Value: "/etc/a", Access: "readOnly"}, false},
	} {
		if got := rule.Covers(tt.seen); got != tt.want {
			t.Errorf("Covers(%+v) = %v, want %v", tt.seen, got, tt.want)
		}
	}
}
