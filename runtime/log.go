package runtime

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/kubewarden/podlock/runtime/runcargs"
)

// newLogger logs the way runc does, so that containerd and CRI-O can show
// podlock's errors: JSON (or logfmt) lines appended to the --log file,
// "level" in lower case (the shim only reports lines whose level is exactly
// "error"), "msg" and "time". Errors also go to stderr. With --debug, info
// and debug lines are written too; without it, a successful run writes
// nothing anywhere.
func newLogger(args runcargs.Args) *slog.Logger {
	level := slog.LevelError
	if v, ok := args.Global("debug"); ok && v != "false" {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: runcStyle}
	var handlers []slog.Handler
	if file, ok := args.Global("log"); ok && file != "" {
		if f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); err == nil {
			var w io.Writer = f
			if format, _ := args.Global("log-format"); format == "json" {
				handlers = append(handlers, slog.NewJSONHandler(w, opts))
			} else {
				handlers = append(handlers, slog.NewTextHandler(w, opts))
			}
		}
	}
	handlers = append(handlers, stderrHandler{})
	return slog.New(fanout(handlers))
}

// stderrHandler writes errors as one plain line, for a person running the
// command by hand.
type stderrHandler struct{}

func (stderrHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelError }

func (stderrHandler) Handle(_ context.Context, r slog.Record) error {
	_, err := fmt.Fprintf(os.Stderr, "podlock-runtime: %s\n", r.Message)
	return err
}

func (h stderrHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h stderrHandler) WithGroup(string) slog.Handler      { return h }

func runcStyle(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.LevelKey {
		return slog.String(slog.LevelKey, strings.ToLower(a.Value.String()))
	}
	return a
}

// fanout sends each record to every handler that is enabled for it.
type fanout []slog.Handler

func (f fanout) Enabled(ctx context.Context, l slog.Level) bool {
	for _, h := range f {
		if h.Enabled(ctx, l) {
			return true
		}
	}
	return false
}

func (f fanout) Handle(ctx context.Context, r slog.Record) error {
	for _, h := range f {
		if h.Enabled(ctx, r.Level) {
			_ = h.Handle(ctx, r.Clone())
		}
	}
	return nil
}

func (f fanout) WithAttrs(attrs []slog.Attr) slog.Handler {
	out := make(fanout, len(f))
	for i, h := range f {
		out[i] = h.WithAttrs(attrs)
	}
	return out
}

func (f fanout) WithGroup(name string) slog.Handler {
	out := make(fanout, len(f))
	for i, h := range f {
		out[i] = h.WithGroup(name)
	}
	return out
}
