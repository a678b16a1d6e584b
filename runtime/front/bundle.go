package front

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"

	"github.com/kubewarden/podlock/internal/sysread"
	"github.com/kubewarden/podlock/runtime/runcargs"
)

// Annotations by which a container asks podlock for confinement or says
// it is a pod's sandbox, as package runtime reads them (identify): the
// front passes a create straight to the real runtime only when
// podlock-runtime-confine would leave the bundle untouched too.
const (
	podlockPrefix     = "podlock.kubewarden.io/"
	criContainerType  = "io.kubernetes.cri.container-type"
	crioContainerType = "io.kubernetes.cri-o.ContainerType"
	sandboxType       = "sandbox"
)

// asksConfinement reads the annotations of the bundle's config.json: a
// container with no podlock annotation, or a pod's sandbox, is the real
// runtime's alone. Anything the front cannot read or does not expect goes
// to podlock-runtime-confine, which reads the bundle in full.
func asksConfinement(args runcargs.Args) bool {
	if len(args.Positional()) != 1 {
		return false // the runtime's usage error
	}
	if _, ok := args.VerbFlag("config", "f"); ok {
		return true // crun's --config, which podlock refuses
	}
	dir, ok := args.VerbFlag("bundle", "b")
	if !ok || dir == "" {
		dir = "."
	}
	data, err := sysread.File(filepath.Join(dir, "config.json"), 0)
	if os.IsNotExist(err) {
		return false // the runtime's own error
	}
	if err != nil {
		return true
	}
	var spec struct {
		Annotations map[string]string `json:"annotations"`
	}
	if err := json.Unmarshal(data, &spec); err != nil {
		return true
	}
	typ := spec.Annotations[criContainerType]
	if t, crio := spec.Annotations[crioContainerType]; crio {
		typ = t
	}
	if typ == sandboxType {
		return false
	}
	for key := range spec.Annotations {
		if strings.HasPrefix(key, podlockPrefix) {
			return true
		}
	}
	return false
}
