package plugin

import (
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubewarden/podlock/profiles/v1alpha1"
)

// Node labels podlock-node keeps true: whether confined containers can
// start on the node, and the node's Landlock ABI.
const (
	nodeReadyLabel  = v1alpha1.Group + "/ready"
	nodeABILabel    = v1alpha1.Group + "/landlock-version"
	allNamespaces   = "all-namespaces"
	notRunningAgent = "no podlock-node"
)

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "show which pods are bound to which profiles, which nodes are ready for podlock, and recent denials per profile",
		Description: `Pods: those bound to a LandlockProfile, by their own label
podlock.kubewarden.io/profile or by their namespace's label
podlock.kubewarden.io/landlock-profile. Nodes: the labels podlock-node
keeps (ready, Landlock ABI); a user who may not list nodes sees none.
Denials: the PodlockDenied Events podlock-node posted on the pods, per
profile (Events expire, after an hour by default).`,
		Flags: append(kubeFlags(), outputFlag(),
			&cli.BoolFlag{Name: allNamespaces, Aliases: []string{"A"}, Usage: "every namespace"}),
		Action: status,
	}
}

// statusReport is what status prints.
type statusReport struct {
	Pods    []podBinding     `json:"pods"`
	Nodes   []nodeState      `json:"nodes"`
	Denials []profileDenials `json:"denials"`
}

type podBinding struct {
	Namespace        string `json:"namespace"`
	Name             string `json:"name"`
	Profile          string `json:"profile,omitempty"`
	NamespaceProfile string `json:"namespaceProfile,omitempty"`
	Node             string `json:"node,omitempty"`
	Phase            string `json:"phase"`
}

type nodeState struct {
	Name string `json:"name"`
	// Ready is podlock-node's label: "true", "false", or empty when no
	// podlock-node runs there.
	Ready       string `json:"ready,omitempty"`
	LandlockABI int    `json:"landlockABI,omitempty"`
}

func status(c *cli.Context) error {
	format, err := outputFormat(c)
	if err != nil {
		return err
	}
	if c.NArg() != 0 {
		return fmt.Errorf("status takes no arguments, not %q", c.Args().Slice())
	}
	s, err := connect(c)
	if err != nil {
		return err
	}
	namespace := s.namespace
	if c.Bool(allNamespaces) {
		namespace = ""
	}
	ctx := c.Context

	var pods corev1.PodList
	if err := s.client.List(ctx, &pods, client.InNamespace(namespace)); err != nil {
		return fmt.Errorf("listing pods: %w", err)
	}
	report := statusReport{Pods: []podBinding{}, Nodes: []nodeState{}}
	byName := map[string]*corev1.Pod{}
	for i := range pods.Items {
		p := &pods.Items[i]
		byName[p.Namespace+"/"+p.Name] = p
		b := podBinding{
			Namespace: p.Namespace, Name: p.Name, Node: p.Spec.NodeName, Phase: string(p.Status.Phase),
			Profile: p.Labels[v1alpha1.ProfileKey], NamespaceProfile: p.Annotations[v1alpha1.NamespaceProfileKey],
		}
		if b.Profile != "" || b.NamespaceProfile != "" {
			report.Pods = append(report.Pods, b)
		}
	}

	var nodes corev1.NodeList
	switch err := s.client.List(ctx, &nodes); {
	case apierrors.IsForbidden(err):
		fmt.Fprintf(c.App.ErrWriter, "kubectl-podlock: nodes not shown: %v\n", err)
	case err != nil:
		return fmt.Errorf("listing nodes: %w", err)
	}
	for _, n := range nodes.Items {
		abi, _ := strconv.Atoi(n.Labels[nodeABILabel])
		report.Nodes = append(report.Nodes, nodeState{Name: n.Name, Ready: n.Labels[nodeReadyLabel], LandlockABI: abi})
	}

	denials, err := s.denials(ctx, namespace, byName)
	if err != nil {
		return err
	}
	report.Denials = byProfile(denials)
	if report.Denials == nil {
		report.Denials = []profileDenials{}
	}

	now := time.Now()
	return show(c.App.Writer, format, report, func(w *tabwriter.Writer) {
		row(w, "NAMESPACE", "POD", "PROFILE", "NAMESPACE PROFILE", "NODE", "PHASE")
		for _, p := range report.Pods {
			row(w, p.Namespace, p.Name, p.Profile, p.NamespaceProfile, p.Node, p.Phase)
		}
		fmt.Fprintln(w)
		row(w, "NODE", "PODLOCK READY", "LANDLOCK ABI")
		for _, n := range report.Nodes {
			ready, abi := n.Ready, ""
			if ready == "" {
				ready = notRunningAgent
			}
			if n.LandlockABI > 0 {
				abi = strconv.Itoa(n.LandlockABI)
			}
			row(w, n.Name, ready, abi)
		}
		fmt.Fprintln(w)
		row(w, "NAMESPACE", "PROFILE", "DENIALS", "LAST SEEN", "LATEST DENIAL")
		for _, d := range report.Denials {
			row(w, d.Namespace, d.Profile, strconv.Itoa(int(d.Count)), age(d.LastSeen, now), d.Latest)
		}
	})
}
