package containerd

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Configuration versions, and the releases that write them by default
// (`containerd config default`):
//
//   - 2: containerd 1.3 to 1.7; the CRI plugin is io.containerd.grpc.v1.cri.
//   - 3: containerd 2.0 to 2.2; the runtime part of the CRI plugin is
//     io.containerd.cri.v1.runtime.
//   - 4: containerd 2.3 and later (server settings moved into plugins); the
//     runtime section is where version 3 has it.
//
// containerd 2.x reads every older version (migrating it in memory, with a
// warning); containerd 1.x reads only version 2 (and the deprecated 1).
const (
	minConfigVersion    = 2
	LatestConfigVersion = 4
)

// criRuntimePlugin is the plugin whose `containerd.runtimes` table holds
// the runtime handlers, in a configuration version.
func criRuntimePlugin(version int) string {
	if version == 2 {
		return "io.containerd.grpc.v1.cri"
	}
	return "io.containerd.cri.v1.runtime"
}

// releasePattern finds major.minor in a version string: "1.7", "v2.4.2",
// Debian's "1.6.20~ds1", or all of `containerd --version`'s output
// ("containerd github.com/containerd/containerd/v2 v2.4.2 <commit>").
var releasePattern = regexp.MustCompile(`(\d+)\.(\d+)`)

// ConfigVersion returns the configuration version a containerd release
// writes by default, which is the one the installer writes for it.
func ConfigVersion(release string) (int, error) {
	m := releasePattern.FindStringSubmatch(release)
	if m == nil {
		return 0, fmt.Errorf("containerd version %q: want major.minor, such as 1.7 or 2.4", release)
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	switch {
	case major == 1 && minor >= 3:
		return 2, nil
	case major == 2 && minor <= 2:
		return 3, nil
	case major == 2:
		return 4, nil
	default:
		return 0, fmt.Errorf("containerd %d.%d: supported are 1.3 to 1.7 and 2.x", major, minor)
	}
}

// DetectRelease runs `containerd --version` from PATH and returns its
// output, which ConfigVersion understands.
func DetectRelease(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "containerd", "--version").Output()
	if err != nil {
		return "", fmt.Errorf("running containerd --version: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// topLevelKeys are the top-level keys of containerd's configuration, in
// every version: what tells its main file from another engine's.
var topLevelKeys = []string{"version", "root", "state", "temp", "plugin_dir", "imports", "grpc", "ttrpc",
	"debug", "metrics", "plugins", "disabled_plugins", "required_plugins", "oom_score", "cgroup",
	"proxy_plugins", "stream_processors", "timeouts"}

// IsConfig tells whether a decoded TOML document is a containerd
// configuration: it has one of containerd's top-level keys and no `crio`
// table (CRI-O's files keep every setting under [crio]).
func IsConfig(doc map[string]any) bool {
	if _, ok := doc["crio"]; ok {
		return false
	}
	for _, k := range topLevelKeys {
		if _, ok := doc[k]; ok {
			return true
		}
	}
	return false
}
