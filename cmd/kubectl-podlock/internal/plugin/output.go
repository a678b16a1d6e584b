package plugin

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/kubewarden/podlock/profiles/crd"
	"github.com/kubewarden/podlock/profiles/v1alpha1"
)

// Output formats of -o.
const (
	formatTable = "table"
	formatYAML  = "yaml"
	formatJSON  = "json"
)

func outputFlag() cli.Flag {
	return &cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: formatTable, Usage: "`FORMAT` of the output: table, yaml or json"}
}

// outputFormat returns the format -o asks for, refusing unknown ones
// before the command does anything.
func outputFormat(c *cli.Context) (string, error) {
	switch f := c.String("output"); f {
	case formatTable, formatYAML, formatJSON:
		return f, nil
	default:
		return "", fmt.Errorf("unknown output format %q: use -o table, -o yaml or -o json", f)
	}
}

// show writes v as YAML or JSON, or calls table for the table format.
func show(w io.Writer, format string, v any, table func(*tabwriter.Writer)) error {
	switch format {
	case formatYAML:
		out, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(out)
		return err
	case formatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	default:
		tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
		table(tw)
		return tw.Flush()
	}
}

// manifest returns a profile as kubectl prints it, with its apiVersion
// and kind, which the typed client leaves out of what it decodes.
func manifest(obj any) any {
	switch o := obj.(type) {
	case *crd.LandlockProfile:
		o.TypeMeta = metav1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.KindLandlockProfile}
	case *crd.SeccompProfile:
		o.TypeMeta = metav1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.KindSeccompProfile}
	}
	return obj
}

// row writes one tab-separated line of a table; empty cells show as "-".
func row(w io.Writer, cells ...string) {
	for i, c := range cells {
		if c == "" {
			cells[i] = "-"
		}
	}
	fmt.Fprintln(w, strings.Join(cells, "\t"))
}

// age says how long ago t was, as kubectl does (5s, 3m, 2h, 4d).
func age(t metav1.Time, now time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := now.Sub(t.Time)
	switch {
	case d < 0:
		return "0s"
	case d < 2*time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < 2*time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	default:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
}
