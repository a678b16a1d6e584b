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

	"github.com/kubewarden/podlock/cmd/kubectl-podlock/internal/rules"
	"github.com/kubewarden/podlock/profiles/crd"
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
		Usage: "show the profiles and their recordings, which pods are bound to which profiles, which nodes are ready for podlock, and recent denials per profile",
		Description: `Profiles: the LandlockProfiles, their mode, how many pods use them, and
the recording podlock-node published of each (PROFILE-recorded), if any.
Pods: those bound to a LandlockProfile, by their own label
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
	Profiles []profileState   `json:"profiles"`
	Pods     []podBinding     `json:"pods"`
	Nodes    []nodeState      `json:"nodes"`
	Denials  []profileDenials `json:"denials"`
}

// profileState is a LandlockProfile and its recording, if any.
type profileState struct {
	Namespace string        `json:"namespace"`
	Name      string        `json:"name"`
	Mode      v1alpha1.Mode `json:"mode"`
	PodsInUse int32         `json:"podsInUse"`
	// Recording is the recorded profile podlock-node published, if any,
	// with the number of its rules and of the nodes that contributed.
	Recording      string `json:"recording,omitempty"`
	RecordingRules int    `json:"recordingRules,omitempty"`
	RecordingNodes int    `json:"recordingNodes,omitempty"`
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

	report := statusReport{Profiles: []profileState{}, Pods: []podBinding{}, Nodes: []nodeState{}}
	var profiles crd.LandlockProfileList
	switch err := s.client.List(ctx, &profiles, client.InNamespace(namespace)); {
	case apierrors.IsForbidden(err):
		fmt.Fprintf(c.App.ErrWriter, "kubectl-podlock: profiles not shown: %v\n", err)
	case err != nil:
		return fmt.Errorf("listing LandlockProfiles: %w", err)
	}
	report.Profiles = profileStates(profiles.Items)

	var pods corev1.PodList
	if err := s.client.List(ctx, &pods, client.InNamespace(namespace)); err != nil {
		return fmt.Errorf("listing pods: %w", err)
	}
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
		row(w, "NAMESPACE", "PROFILE", "MODE", "PODS IN USE", "RECORDING", "RECORDED RULES", "RECORDED ON NODES")
		for _, p := range report.Profiles {
			rules, nodes := "", ""
			if p.Recording != "" {
				rules, nodes = strconv.Itoa(p.RecordingRules), strconv.Itoa(p.RecordingNodes)
			}
			row(w, p.Namespace, p.Name, string(p.Mode), strconv.Itoa(int(p.PodsInUse)), p.Recording, rules, nodes)
		}
		fmt.Fprintln(w)
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

// profileStates lists the profiles users wrote, each with the recording
// podlock-node published of it; recordings are not listed on their own.
func profileStates(items []crd.LandlockProfile) []profileState {
	recordings := map[[2]string]*crd.LandlockProfile{}
	for i := range items {
		p := &items[i]
		if from := p.Labels[recordedFromLabel]; from != "" && p.Name == recordedName(from) {
			recordings[[2]string{p.Namespace, from}] = p
		}
	}
	out := []profileState{}
	for i := range items {
		p := &items[i]
		if _, recorded := p.Labels[recordedFromLabel]; recorded {
			continue
		}
		st := profileState{Namespace: p.Namespace, Name: p.Name, Mode: modeOf(&p.Spec), PodsInUse: p.Status.PodsInUse}
		if rec, ok := recordings[[2]string{p.Namespace, p.Name}]; ok {
			st.Recording = rec.Name
			st.RecordingRules = len(rules.Landlock(&rec.Spec))
			if rec.Status.Recording != nil {
				st.RecordingNodes = len(rec.Status.Recording.Nodes)
			}
		}
		out = append(out, st)
	}
	return out
}
