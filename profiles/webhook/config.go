package webhook

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/kubewarden/podlock/profiles/v1alpha1"
)

// DefaultRuntimeClassName is the runtime class whose handler is
// podlock-runtime.
const DefaultRuntimeClassName = "podlock"

// Config is the admission policy of podlock-controller, read from its YAML
// configuration file. The runtime-class keys are those of the
// runtime-class-policy settings, at the top level, so that such a settings
// block is a valid configuration file as it is.
type Config struct {
	// RuntimeClassName is the runtime class that confined pods get.
	RuntimeClassName string `json:"runtimeClassName,omitempty"`

	// ReservedRuntimes lists runtimes that pods may not use: a pod's
	// runtime class is reserved when its name, or the handler of the
	// RuntimeClass of that name, equals an entry (case-insensitively).
	ReservedRuntimes []string `json:"reservedRuntimes,omitempty"`
	// FallbackRuntime is the runtime class a pod is given, at creation,
	// instead of a reserved one. Empty: such pods are rejected.
	FallbackRuntime string `json:"fallbackRuntime,omitempty"`
	// DefaultRuntimeReserved reserves the cluster's default runtime, that
	// is, pods without spec.runtimeClassName.
	DefaultRuntimeReserved bool `json:"defaultRuntimeReserved,omitempty"`

	// DefaultSeccompNamespaceSelector selects, by their labels, namespaces
	// whose new pods without a seccomp profile get RuntimeDefault, as if
	// they were labelled DefaultSeccompLabel. Nil: only the labelled
	// namespaces; empty: every namespace.
	DefaultSeccompNamespaceSelector *metav1.LabelSelector `json:"defaultSeccompNamespaceSelector,omitempty"`
}

// DefaultConfig is the configuration without a file: podlock's runtime
// class, nothing reserved.
func DefaultConfig() Config {
	return Config{RuntimeClassName: DefaultRuntimeClassName}
}

// ErrConfig is the class of configuration errors.
var ErrConfig = errors.New("invalid configuration")

// LoadConfig reads a configuration file. Unknown keys are errors: a
// misspelt policy setting must not silently leave a runtime unreserved.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("configuration: %w", err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return Config{}, fmt.Errorf("configuration %s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig parses and checks a YAML configuration; absent keys keep
// their defaults.
func ParseConfig(data []byte) (Config, error) {
	cfg := DefaultConfig()
	if len(bytes.TrimSpace(data)) > 0 {
		if err := yaml.UnmarshalStrict(data, &cfg); err != nil {
			return Config{}, fmt.Errorf("%w: %w", ErrConfig, err)
		}
	}
	if cfg.RuntimeClassName == "" {
		cfg.RuntimeClassName = DefaultRuntimeClassName
	}
	return cfg, cfg.Validate()
}

// Validate reports every inconsistency of the configuration.
func (c Config) Validate() error {
	var errs []error
	if err := v1alpha1.ValidateName(c.RuntimeClassName); err != nil {
		errs = append(errs, fmt.Errorf("runtimeClassName: %w", err))
	}
	for i, r := range c.ReservedRuntimes {
		if strings.TrimSpace(r) == "" {
			errs = append(errs, fmt.Errorf("reservedRuntimes[%d]: empty", i))
		}
		if strings.EqualFold(r, c.RuntimeClassName) {
			// podlock's own class is never reserved: pods bound to a
			// profile must be able to use it.
			errs = append(errs, fmt.Errorf("reservedRuntimes[%d]: %q is podlock's runtime class, which cannot be reserved", i, r))
		}
	}
	if _, err := c.defaultSeccompSelector(); err != nil {
		errs = append(errs, err)
	}
	if c.FallbackRuntime != "" {
		if err := v1alpha1.ValidateName(c.FallbackRuntime); err != nil {
			errs = append(errs, fmt.Errorf("fallbackRuntime: %w", err))
		}
		if slices.ContainsFunc(c.ReservedRuntimes, func(r string) bool { return strings.EqualFold(r, c.FallbackRuntime) }) {
			errs = append(errs, fmt.Errorf("fallbackRuntime %q is itself in reservedRuntimes", c.FallbackRuntime))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return nil
}

// defaultSeccompSelector is DefaultSeccompNamespaceSelector as a selector;
// labels.Nothing() when nil.
func (c Config) defaultSeccompSelector() (labels.Selector, error) {
	if c.DefaultSeccompNamespaceSelector == nil {
		return labels.Nothing(), nil
	}
	sel, err := metav1.LabelSelectorAsSelector(c.DefaultSeccompNamespaceSelector)
	if err != nil {
		return nil, fmt.Errorf("defaultSeccompNamespaceSelector: %w", err)
	}
	return sel, nil
}
