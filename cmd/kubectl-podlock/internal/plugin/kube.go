package plugin

import (
	"fmt"

	"github.com/urfave/cli/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubewarden/podlock/profiles/crd"
)

// kubeFlags are kubectl's flags that choose the cluster, the identity and
// the namespace, with kubectl's meaning.
func kubeFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "kubeconfig", Usage: "`FILE` of the kubeconfig (default: $KUBECONFIG, else ~/.kube/config)"},
		&cli.StringFlag{Name: "context", Usage: "kubeconfig `CONTEXT` to use (default: the current one)"},
		&cli.StringFlag{Name: "cluster", Usage: "kubeconfig `CLUSTER` to use"},
		&cli.StringFlag{Name: "user", Usage: "kubeconfig `USER` to use"},
		&cli.StringFlag{Name: "namespace", Aliases: []string{"n"}, Usage: "`NAMESPACE` of the profiles (default: the context's)"},
	}
}

// session is a client of the cluster that the kube flags name, and the
// namespace the command works in.
type session struct {
	client    client.Client
	namespace string
}

func connect(c *cli.Context) (*session, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = c.String("kubeconfig")
	overrides := &clientcmd.ConfigOverrides{
		CurrentContext: c.String("context"),
		Context: clientcmdapi.Context{
			Cluster:   c.String("cluster"),
			AuthInfo:  c.String("user"),
			Namespace: c.String("namespace"),
		},
	}
	config := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
	namespace, _, err := config.Namespace()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	rest, err := config.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w (set --kubeconfig, or KUBECONFIG, to a kubeconfig file)", err)
	}
	rest.UserAgent = "kubectl-podlock"
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := crd.AddToScheme(scheme); err != nil {
		return nil, err
	}
	cl, err := client.New(rest, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", rest.Host, err)
	}
	return &session{client: cl, namespace: namespace}, nil
}
