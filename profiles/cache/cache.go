// Package cache keeps the last answer of a profile source on disk, for the
// moments when that source cannot answer.
//
// The copy is used only when the source is unavailable (its error wraps
// profiles.ErrUnavailable): an answer that the profile does not exist
// removes the copy, and any answer replaces it. Each copy is the object as
// the source returned it, UID included, so the copy always stands for one
// exact object: a profile deleted and re-created is a new object with a new
// UID, and replaces the copy the next time the source answers.
package cache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/kubewarden/podlock/internal/atomicfile"
	"github.com/kubewarden/podlock/profiles"
	"github.com/kubewarden/podlock/profiles/v1alpha1"
)

// DefaultDir is where podlock-runtime keeps its copies.
const DefaultDir = "/var/lib/podlock/cache"

// Source wraps another source with an on-disk copy of its answers. Copies
// are readable by root only: profiles say what a workload may do, which is
// of use to whoever attacks it.
type Source struct {
	Inner profiles.Source
	Dir   string
	// Log, if set, is told when a copy cannot be written or is used.
	Log *slog.Logger
}

// LandlockProfile implements profiles.Source.
func (c *Source) LandlockProfile(ctx context.Context, ref profiles.Ref) (*v1alpha1.LandlockProfile, error) {
	p, err := c.Inner.LandlockProfile(ctx, ref)
	return through(c, v1alpha1.KindLandlockProfile, ref, p, err, func(p *v1alpha1.LandlockProfile) string { return p.Metadata.UID })
}

// SeccompProfile implements profiles.Source.
func (c *Source) SeccompProfile(ctx context.Context, ref profiles.Ref) (*v1alpha1.SeccompProfile, error) {
	p, err := c.Inner.SeccompProfile(ctx, ref)
	return through(c, v1alpha1.KindSeccompProfile, ref, p, err, func(p *v1alpha1.SeccompProfile) string { return p.Metadata.UID })
}

func through[T any](c *Source, kind string, ref profiles.Ref, obj *T, err error, uid func(*T) string) (*T, error) {
	file := c.file(kind, ref)
	switch {
	case err == nil:
		if werr := c.store(file, obj); werr != nil && c.Log != nil {
			c.Log.Warn("cannot keep a copy of the profile", "kind", kind, "profile", ref.String(), "error", werr)
		}
		return obj, nil
	case errors.Is(err, profiles.ErrNotFound):
		if rerr := os.Remove(file); rerr != nil && !errors.Is(rerr, os.ErrNotExist) && c.Log != nil {
			c.Log.Warn("cannot remove the copy of a deleted profile", "kind", kind, "profile", ref.String(), "error", rerr)
		}
		return nil, err
	case errors.Is(err, profiles.ErrUnavailable):
		data, rerr := os.ReadFile(file)
		if errors.Is(rerr, os.ErrNotExist) {
			return nil, fmt.Errorf("%w; no copy of it is kept on this node (%s)", err, c.Dir)
		}
		if rerr != nil {
			return nil, fmt.Errorf("%w; reading the copy kept on this node: %w", err, rerr)
		}
		var cached T
		if derr := json.Unmarshal(data, &cached); derr != nil {
			return nil, fmt.Errorf("%w; the copy kept on this node is corrupt (%s): %w", err, file, derr)
		}
		if c.Log != nil {
			c.Log.Info("profile source unavailable, using the copy kept on this node", "kind", kind, "profile", ref.String(), "uid", uid(&cached), "error", err)
		}
		return &cached, nil
	}
	return nil, err
}

func (c *Source) file(kind string, ref profiles.Ref) string {
	// Namespace and name are DNS names, checked by the inner source before
	// it answers: safe as path components.
	return filepath.Join(c.Dir, strings.ToLower(kind), ref.Namespace, ref.Name+".json")
}

func (c *Source) store(file string, obj any) error {
	data, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	return atomicfile.Write(file, data, 0o600)
}

var _ profiles.Source = (*Source)(nil)
