// Package convert is `kubectl podlock convert`: it converts profiles
// between podlock's resources and the formats users already have, Landlock
// rules to and from landlockconfig, and OCI or Docker seccomp JSON to
// SeccompProfile manifests, on files, without a cluster. It lives in the
// kubectl plugin so that podlock-runtime, executed for every container
// operation, links no parser it does not need; the conversions themselves
// live in profiles/landlockconfig and seccomp/oci.
package convert

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
	"sigs.k8s.io/yaml"

	"github.com/kubewarden/podlock/profiles/dir"
	"github.com/kubewarden/podlock/profiles/landlockconfig"
	"github.com/kubewarden/podlock/profiles/v1alpha1"
	"github.com/kubewarden/podlock/seccomp/oci"
)

const landlockconfigDescription = `landlockconfig is the policy format of the Landlock maintainers
(github.com/landlock-lsm/landlockconfig), in JSON or TOML. One document is
one Landlock ruleset, with no notion of binaries or containers: convert the
rules of one binary (--container and --binary) or the container-wide rules
of one container (--container alone) at a time.

Documents that a LandlockProfile cannot say exactly are refused with the
reason: handled filesystem rights other than the 15 of Landlock ABI 3,
network rights handled for bind or connect alone, a path allowed a set of
rights that is none of readOnly, readExec, readWrite and readWriteExec,
relative or unclean paths, variables without values, groups (abi.all, ...)
at an ABI newer than podlock knows.`

// NewCommand returns the convert command. Its input is the app's Reader
// (for the file name -), its output the app's Writer.
func NewCommand() *cli.Command {
	place := []cli.Flag{
		&cli.StringFlag{Name: "container", Required: true, Usage: "the container `NAME` the rules are for"},
		&cli.StringFlag{Name: "binary", Usage: "the binary `PATH` the rules are for, in profilesByContainer; without it, the container's containerWide rules"},
	}
	format := &cli.StringFlag{Name: "format", Usage: "json or toml (default: from the file's extension, else json)"}
	return &cli.Command{
		Name:  "convert",
		Usage: "convert profiles between podlock's resources and landlockconfig or OCI seccomp JSON, on files",
		Description: `Reads a file (- for stdin) and prints the result; it needs no cluster.
Pipe a printed manifest to kubectl apply -f -.`,
		Subcommands: []*cli.Command{{
			Name:        "landlockconfig",
			Usage:       "Landlock rules to and from landlockconfig documents",
			Description: landlockconfigDescription,
			Subcommands: []*cli.Command{{
				Name:      "export",
				Usage:     "write the rules of one binary or container of a LandlockProfile as a landlockconfig document",
				ArgsUsage: "PROFILE (a LandlockProfile manifest, YAML or JSON; - for stdin)",
				Flags: append(slices.Clone(place), format,
					&cli.StringFlag{Name: "name", Usage: "the LandlockProfile's `NAME`, when the file holds several"}),
				Action: exportLandlockconfig,
			}, {
				Name:      "import",
				Usage:     "read a landlockconfig document as the rules of one binary or container, and print the LandlockProfile",
				ArgsUsage: "DOCUMENT (- for stdin)",
				Flags: append(slices.Clone(place), format,
					&cli.StringFlag{Name: "name", Usage: "`NAME` of the new LandlockProfile"},
					&cli.StringFlag{Name: "namespace", Usage: "`NAMESPACE` of the new LandlockProfile (default: none, kubectl's current one)"},
					&cli.StringFlag{Name: "into", Usage: "add the rules to the LandlockProfile of manifest `FILE` instead, and print it whole; the binary or container must not have rules there yet"}),
				Action: importLandlockconfig,
			}},
		}, {
			Name:  "seccomp",
			Usage: "OCI and Docker seccomp JSON profiles",
			Subcommands: []*cli.Command{{
				Name:  "import",
				Usage: "print a SeccompProfile manifest that means what the seccomp JSON file means, on every node",
				Description: `The file's fields are OCI's, which a SeccompProfile has, plus Docker's
spellings that mean the same everywhere (syscalls[].name, comments, empty
includes and excludes). What depends on the node or the container
(archMap, includes and excludes with conditions) or names a seccomp agent
(listenerPath) is refused: the API server could only drop it. Apply the
result with kubectl apply -f -.`,
				ArgsUsage: "FILE (- for stdin)",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "name", Required: true, Usage: "`NAME` of the SeccompProfile"},
					&cli.StringFlag{Name: "namespace", Usage: "`NAMESPACE` of the SeccompProfile (default: none, kubectl's current one)"},
				},
				Action: importSeccomp,
			}},
		}},
	}
}

// oneArg returns the command's only argument and what it names.
func oneArg(c *cli.Context) (name string, data []byte, err error) {
	if c.NArg() != 1 {
		return "", nil, fmt.Errorf("%s takes one argument, a file (- for stdin), not %d", c.Command.FullName(), c.NArg())
	}
	name = c.Args().First()
	if name == "-" {
		data, err = io.ReadAll(c.App.Reader)
	} else {
		data, err = os.ReadFile(name)
	}
	return name, data, err
}

func formatFor(c *cli.Context, file string, fallback landlockconfig.Format) (landlockconfig.Format, error) {
	if c.IsSet("format") {
		return landlockconfig.ParseFormat(c.String("format"))
	}
	if f, err := landlockconfig.FormatOf(file); err == nil {
		return f, nil
	}
	if fallback == "" {
		return "", fmt.Errorf("cannot tell the format of %q: pass --format json or --format toml", file)
	}
	return fallback, nil
}

func exportLandlockconfig(c *cli.Context) error {
	file, data, err := oneArg(c)
	if err != nil {
		return err
	}
	f, err := formatFor(c, "", landlockconfig.JSON)
	if err != nil {
		return err
	}
	p, err := readProfile(file, data, c.String("name"))
	if err != nil {
		return err
	}
	rules, where, ok := rulesAt(&p.Spec, c.String("container"), c.String("binary"))
	if !ok {
		return fmt.Errorf("LandlockProfile %s has no %s", p.Metadata.Name, where)
	}
	d, err := landlockconfig.Export(rules)
	if err != nil {
		return fmt.Errorf("%s of LandlockProfile %s: %w", where, p.Metadata.Name, err)
	}
	out, err := d.Marshal(f)
	if err != nil {
		return err
	}
	_, err = c.App.Writer.Write(out)
	return err
}

func importLandlockconfig(c *cli.Context) error {
	file, data, err := oneArg(c)
	if err != nil {
		return err
	}
	f, err := formatFor(c, file, "")
	if err != nil {
		return err
	}
	d, err := landlockconfig.Parse(data, f)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	rules, err := landlockconfig.Import(d)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}

	var p *v1alpha1.LandlockProfile
	if into := c.String("into"); into != "" {
		if c.IsSet("name") || c.IsSet("namespace") {
			return errors.New("--into takes the name and namespace from the manifest: leave out --name and --namespace")
		}
		manifest, err := os.ReadFile(into)
		if err != nil {
			return err
		}
		if p, err = readProfile(into, manifest, ""); err != nil {
			return err
		}
	} else {
		if !c.IsSet("name") {
			return errors.New("name the new LandlockProfile with --name, or add the rules to an existing one with --into")
		}
		p = &v1alpha1.LandlockProfile{
			TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.KindLandlockProfile},
			Metadata: v1alpha1.ObjectMeta{Name: c.String("name"), Namespace: c.String("namespace")},
		}
	}
	container, binary := c.String("container"), c.String("binary")
	if _, where, taken := rulesAt(&p.Spec, container, binary); taken {
		return fmt.Errorf("LandlockProfile %s has %s already: a binary or container has one set of rules", p.Metadata.Name, where)
	}
	if binary == "" {
		if p.Spec.ContainerWide == nil {
			p.Spec.ContainerWide = map[string]v1alpha1.AccessRules{}
		}
		p.Spec.ContainerWide[container] = rules
	} else {
		if p.Spec.ProfilesByContainer == nil {
			p.Spec.ProfilesByContainer = map[string]v1alpha1.BinaryRules{}
		}
		if p.Spec.ProfilesByContainer[container] == nil {
			p.Spec.ProfilesByContainer[container] = v1alpha1.BinaryRules{}
		}
		p.Spec.ProfilesByContainer[container][binary] = rules
	}
	if err := checkName(p.Metadata); err != nil {
		return err
	}
	if err := p.Spec.Validate(); err != nil {
		return fmt.Errorf("LandlockProfile %s: %w", p.Metadata.Name, err)
	}
	return writeYAML(c.App.Writer, p)
}

// readProfile reads the LandlockProfile of a manifest file, the one named
// name when it holds several.
func readProfile(file string, data []byte, name string) (*v1alpha1.LandlockProfile, error) {
	docs, err := dir.Documents(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	var found []*v1alpha1.LandlockProfile
	var names []string
	for _, doc := range docs {
		var meta v1alpha1.TypeMeta
		if err := yaml.Unmarshal(doc, &meta); err != nil || meta.Kind != v1alpha1.KindLandlockProfile {
			continue
		}
		p := new(v1alpha1.LandlockProfile)
		if err := v1alpha1.Decode(doc, p); err != nil {
			return nil, fmt.Errorf("%s: LandlockProfile: %w", file, err)
		}
		names = append(names, p.Metadata.Name)
		if name == "" || p.Metadata.Name == name {
			found = append(found, p)
		}
	}
	switch {
	case len(found) == 0 && name != "":
		return nil, fmt.Errorf("%s has no LandlockProfile named %q (it has: %s)", file, name, strings.Join(names, ", "))
	case len(found) == 0:
		return nil, fmt.Errorf("%s has no LandlockProfile", file)
	case len(found) > 1:
		return nil, fmt.Errorf("%s has several LandlockProfiles (%s): choose one with --name", file, strings.Join(names, ", "))
	}
	p := found[0]
	if err := p.Spec.Validate(); err != nil {
		return nil, fmt.Errorf("%s: LandlockProfile %s: %w", file, p.Metadata.Name, err)
	}
	return p, nil
}

// rulesAt returns the rules of a binary, or the container-wide rules of a
// container when binary is empty, and names the place.
func rulesAt(s *v1alpha1.LandlockProfileSpec, container, binary string) (v1alpha1.AccessRules, string, bool) {
	if binary == "" {
		rules, ok := s.ContainerWide[container]
		return rules, fmt.Sprintf("containerWide rules for container %q", container), ok
	}
	rules, ok := s.ProfilesByContainer[container][binary]
	return rules, fmt.Sprintf("rules for binary %s of container %q", binary, container), ok
}

func importSeccomp(c *cli.Context) error {
	file, data, err := oneArg(c)
	if err != nil {
		return err
	}
	spec, err := oci.Portable(data)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	p := &v1alpha1.SeccompProfile{
		TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.KindSeccompProfile},
		Metadata: v1alpha1.ObjectMeta{Name: c.String("name"), Namespace: c.String("namespace")},
		Spec:     *spec,
	}
	if err := checkName(p.Metadata); err != nil {
		return err
	}
	return writeYAML(c.App.Writer, p)
}

func checkName(m v1alpha1.ObjectMeta) error {
	if err := v1alpha1.ValidateName(m.Name); err != nil {
		return err
	}
	if m.Namespace != "" {
		return v1alpha1.ValidateLabel("namespace", m.Namespace)
	}
	return nil
}

func writeYAML(w io.Writer, obj any) error {
	out, err := yaml.Marshal(obj)
	if err != nil {
		return err
	}
	_, err = w.Write(out)
	return err
}
