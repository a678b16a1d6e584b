package plugin

import (
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/urfave/cli/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubewarden/podlock/profiles/crd"
	"github.com/kubewarden/podlock/profiles/v1alpha1"
	"github.com/kubewarden/podlock/seccomp/oci"
)

func applySeccompCommand() *cli.Command {
	return &cli.Command{
		Name:      "apply-seccomp",
		Usage:     "create or update a SeccompProfile from an OCI or Docker seccomp JSON file",
		ArgsUsage: "FILE (- for stdin)",
		Description: `The file's meaning is kept: the same conversion as kubectl podlock convert
seccomp import, which refuses what depends on the node or the container
(archMap, conditional includes and excludes) or names a seccomp agent
(listenerPath). An existing SeccompProfile of that name gets the file's
spec; its labels and annotations stay.`,
		Flags: append(kubeFlags(), outputFlag(),
			&cli.StringFlag{Name: "name", Required: true, Usage: "`NAME` of the SeccompProfile"}),
		Action: applySeccomp,
	}
}

func applySeccomp(c *cli.Context) error {
	format, err := outputFormat(c)
	if err != nil {
		return err
	}
	if c.NArg() != 1 {
		return fmt.Errorf("apply-seccomp takes one argument, a seccomp JSON file (- for stdin), not %d", c.NArg())
	}
	file, name := c.Args().First(), c.String("name")
	if err := v1alpha1.ValidateName(name); err != nil {
		return err
	}
	var data []byte
	if file == "-" {
		data, err = io.ReadAll(c.App.Reader)
	} else {
		data, err = os.ReadFile(file)
	}
	if err != nil {
		return err
	}
	spec, err := oci.Portable(data)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	s, err := connect(c)
	if err != nil {
		return err
	}
	profile, verb := &crd.SeccompProfile{}, "configured"
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		err := s.client.Get(c.Context, client.ObjectKey{Namespace: s.namespace, Name: name}, profile)
		if apierrors.IsNotFound(err) {
			profile = &crd.SeccompProfile{ObjectMeta: metav1.ObjectMeta{Namespace: s.namespace, Name: name}, Spec: *spec}
			verb = "created"
			return s.client.Create(c.Context, profile)
		}
		if err != nil {
			return err
		}
		profile.Spec = *spec
		return s.client.Update(c.Context, profile)
	})
	if err != nil {
		return fmt.Errorf("SeccompProfile %s/%s: %w", s.namespace, name, err)
	}
	return show(c.App.Writer, format, manifest(profile), func(w *tabwriter.Writer) {
		fmt.Fprintf(w, "SeccompProfile %s/%s %s\n", s.namespace, name, verb)
	})
}
