package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// LargeProfile returns a LandlockProfile named name for container app of
// a busybox bundle: binaries applets of /bin listed with paths paths
// each, and wide paths container-wide, to measure how podlock's cost grows
// with a profile's size. The paths need not exist (volumes, files created
// later); the binaries must, and LargeProfile fails the test when the
// rootfs has fewer applets.
func LargeProfile(t testing.TB, name, rootfs string, binaries, paths, wide int) string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(rootfs, "bin"))
	if err != nil {
		t.Fatal(err)
	}
	var applets []string
	for _, e := range entries {
		if e.Name() != "busybox" && e.Name() != "sh" {
			applets = append(applets, e.Name())
		}
	}
	sort.Strings(applets)
	if len(applets) < binaries {
		t.Fatalf("the rootfs has %d applets in /bin, fewer than %d", len(applets), binaries)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: podlock.kubewarden.io/v1alpha1\nkind: LandlockProfile\nmetadata:\n  name: %s\n  namespace: default\nspec:\n", name)
	b.WriteString("  containerWide:\n    app:\n      readExec: [/bin]\n      readOnly: [/etc]\n      readWrite:\n")
	for i := range wide {
		fmt.Fprintf(&b, "      - /data/wide/d%d/f%d\n", i/50, i)
	}
	b.WriteString("  profilesByContainer:\n    app:\n")
	for _, applet := range applets[:binaries] {
		fmt.Fprintf(&b, "      /bin/%s:\n        readExec: [/bin]\n        readOnly:\n", applet)
		for j := range paths {
			fmt.Fprintf(&b, "        - /data/%s/f%d\n", applet, j)
		}
	}
	return b.String()
}
