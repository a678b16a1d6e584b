package probes

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

func TestProbes(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	self := os.Getpid()
	tests := []struct {
		name          string
		installed     bool
		tokenExpires  time.Time // zero: no token yet
		reportDenials bool
		auditPID      int
		auditErr      error
		want          []string // readiness failures; none: ready
	}{
		{name: "ready", installed: true, tokenExpires: now.Add(time.Hour), reportDenials: true, auditPID: self},
		{name: "ready without denials, audit not held", installed: true, tokenExpires: now.Add(time.Hour), auditPID: 1},
		{name: "binaries missing", tokenExpires: now.Add(time.Hour), want: []string{"is not installed"}},
		{name: "no token yet", installed: true, want: []string{"no token written"}},
		{name: "token overdue", installed: true, tokenExpires: now.Add(10 * time.Minute),
			want: []string{"was not renewed on time: it expires at 2026-12-04T12:10:00Z"}},
		{name: "another audit daemon", installed: true, tokenExpires: now.Add(time.Hour), reportDenials: true, auditPID: 1,
			want: []string{"the kernel's audit daemon is pid 1, not podlock-node"}},
		{name: "no audit daemon", installed: true, tokenExpires: now.Add(time.Hour), reportDenials: true, auditPID: 0,
			want: []string{"the kernel's audit daemon is pid 0"}},
		{name: "audit status unreadable", installed: true, tokenExpires: now.Add(time.Hour), reportDenials: true, auditErr: errors.New("operation not permitted"),
			want: []string{"reading the audit status: operation not permitted"}},
		{name: "everything wrong", reportDenials: true, auditPID: 1,
			want: []string{"is not installed", "no token written", "audit daemon is pid 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := New(func() bool { return tt.installed }, time.Hour, tt.reportDenials)
			p.now = func() time.Time { return now }
			p.auditDaemon = func() (int, error) { return tt.auditPID, tt.auditErr }
			if !tt.tokenExpires.IsZero() {
				p.TokenWritten(tt.tokenExpires)
			}
			srv := httptest.NewServer(p.Handler())
			defer srv.Close()

			if code, body := get(t, srv.URL+"/healthz"); code != http.StatusOK || body != "ok\n" {
				t.Errorf("/healthz: %d %q", code, body)
			}
			code, body := get(t, srv.URL+"/readyz")
			if len(tt.want) == 0 {
				if code != http.StatusOK || body != "ok\n" {
					t.Errorf("/readyz: %d %q, want 200 ok", code, body)
				}
				return
			}
			if code != http.StatusServiceUnavailable {
				t.Errorf("/readyz: %d, want 503", code)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("/readyz says %q, without %q", body, w)
				}
			}
		})
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}
