package v1alpha1

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"

	sigsjson "sigs.k8s.io/json"
)

// ObjectMeta is the part of Kubernetes object metadata that podlock reads.
type ObjectMeta struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
	// UID tells a re-created object from the one it replaced.
	UID string `json:"uid,omitempty"`
	// Annotations carry what a recorded profile says about its recording.
	Annotations map[string]string `json:"annotations,omitempty"`
}

// TypeMeta identifies the kind of a manifest.
type TypeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

// LandlockProfile is a LandlockProfile manifest or API object.
type LandlockProfile struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta          `json:"metadata"`
	Spec     LandlockProfileSpec `json:"spec"`
}

// SeccompProfile is a SeccompProfile manifest or API object.
type SeccompProfile struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta         `json:"metadata"`
	Spec     SeccompProfileSpec `json:"spec"`
}

// Object is a LandlockProfile or a SeccompProfile.
//
// +kubebuilder:object:generate=false
type Object interface {
	// spec returns a pointer to the object's spec.
	spec() any
}

func (p *LandlockProfile) spec() any { return &p.Spec }
func (p *SeccompProfile) spec() any  { return &p.Spec }

// Decode unmarshals the JSON of an object into obj, strictly within its
// spec: a misspelt or repeated field in a security
// policy must be an error, not a rule silently left out or overridden.
// Fields outside the spec (status, managed fields) are ignored. Field
// names match exactly, as the API server matches them. One pass over the
// document: a large profile is megabytes of JSON, decoded on every
// confined container's create.
func Decode(data []byte, obj Object) error {
	strict, err := sigsjson.UnmarshalStrict(data, obj)
	if err != nil {
		return err
	}
	for _, e := range strict {
		var field sigsjson.FieldError
		if errors.As(e, &field) && (field.FieldPath() == "spec" || strings.HasPrefix(field.FieldPath(), "spec.")) {
			return e
		}
	}
	if reflect.ValueOf(obj.spec()).Elem().IsZero() {
		// An empty spec, or none: only then is the document read again.
		var raw struct {
			Spec json.RawMessage `json:"spec"`
		}
		if err := json.Unmarshal(data, &raw); err != nil {
			return err
		}
		if len(raw.Spec) == 0 || bytes.Equal(raw.Spec, []byte("null")) {
			return fmt.Errorf("no spec: %w", ErrInvalid)
		}
	}
	return nil
}
