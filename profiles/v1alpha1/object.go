package v1alpha1

import (
	"bytes"
	"encoding/json"
	"fmt"
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

// Decode unmarshals the JSON of an object into obj, and its spec strictly
// into spec: a misspelt field in a security policy must be an error, not a
// rule silently left out. Fields outside the spec (status, managed fields)
// are ignored.
func Decode(data []byte, obj any, spec any) error {
	if err := json.Unmarshal(data, obj); err != nil {
		return err
	}
	var raw struct {
		Spec json.RawMessage `json:"spec"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	if len(raw.Spec) == 0 {
		return fmt.Errorf("no spec: %w", ErrInvalid)
	}
	dec := json.NewDecoder(bytes.NewReader(raw.Spec))
	dec.DisallowUnknownFields()
	if err := dec.Decode(spec); err != nil {
		return fmt.Errorf("spec: %w", err)
	}
	return nil
}
