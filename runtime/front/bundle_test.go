package front

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/kubewarden/podlock/runtime/runcargs"
)

func TestAsksConfinement(t *testing.T) {
	tests := []struct {
		name   string
		config string // "": no config.json
		extra  []string
		want   bool
	}{
		{name: "no annotations", config: `{"ociVersion":"1.0.2","process":{"args":["sh"]}}`},
		{name: "other annotations", config: `{"annotations":{"io.kubernetes.cri.container-type":"container","io.kubernetes.cri.container-name":"app"}}`},
		{name: "profile", config: `{"annotations":{"io.kubernetes.cri.container-type":"container","podlock.kubewarden.io/profile":"demo"}}`, want: true},
		{name: "namespace profile", config: `{"annotations":{"podlock.kubewarden.io/namespace-profile":"base"}}`, want: true},
		{name: "any podlock key", config: `{"annotations":{"podlock.kubewarden.io/future":"x"}}`, want: true},
		{name: "sandbox", config: `{"annotations":{"io.kubernetes.cri.container-type":"sandbox","podlock.kubewarden.io/profile":"demo"}}`},
		{name: "CRI-O sandbox", config: `{"annotations":{"io.kubernetes.cri-o.ContainerType":"sandbox","podlock.kubewarden.io/profile":"demo"}}`},
		{name: "containerd's key under CRI-O", config: `{"annotations":{"io.kubernetes.cri-o.ContainerType":"container","io.kubernetes.cri.container-type":"sandbox","podlock.kubewarden.io/profile":"demo"}}`, want: true},
		{name: "unreadable JSON", config: `{"annotations":`, want: true},
		{name: "annotations of another type", config: `{"annotations":{"podlock.kubewarden.io/profile":1}}`, want: true},
		{name: "no config.json"},
		{name: "crun's --config", config: `{}`, extra: []string{"--config", "/x.json"}, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.config != "" {
				if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(tt.config), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			argv := append([]string{"podlock-runtime", "--root", "/r", "create", "--bundle", dir}, tt.extra...)
			args := runcargs.Parse(append(argv, "ID"))
			if got := asksConfinement(args); got != tt.want {
				t.Errorf("asksConfinement = %v, want %v", got, tt.want)
			}
		})
	}
}
