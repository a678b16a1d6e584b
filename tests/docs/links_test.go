// Package docs_test checks podlock's Markdown documentation: every
// relative link names a file of the repository, and every #fragment a
// heading of the page it points into.
package docs_test

import (
	"bufio"
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/kubewarden/podlock/tests/internal/testenv"
)

// link matches the target of an inline Markdown link or image:
// [text](target) or [text](target "title").
var link = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)

func TestLinks(t *testing.T) {
	root := testenv.ModuleRoot()
	pages := markdownFiles(t, root)
	if len(pages) == 0 {
		t.Fatal("no Markdown files found")
	}
	anchors := map[string]map[string]bool{}
	for _, page := range pages {
		anchors[page] = headingAnchors(t, page)
	}
	for _, page := range pages {
		rel, _ := filepath.Rel(root, page)
		for _, target := range links(t, page) {
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue // outside the repository: not checked, no network here
			}
			file, fragment, _ := strings.Cut(target, "#")
			dest := page
			if file != "" {
				dest = filepath.Join(filepath.Dir(page), file)
				if !strings.HasPrefix(dest, root+string(filepath.Separator)) && dest != root {
					t.Errorf("%s: link %q leaves the repository", rel, target)
					continue
				}
				if _, err := os.Stat(dest); err != nil {
					t.Errorf("%s: link %q: %v", rel, target, err)
					continue
				}
			}
			if fragment == "" {
				continue
			}
			known, ok := anchors[dest]
			if !ok {
				t.Errorf("%s: link %q: a fragment into a file that is not Markdown", rel, target)
				continue
			}
			if !known[fragment] {
				t.Errorf("%s: link %q: no heading with anchor #%s in %s", rel, target, fragment, file)
			}
		}
	}
}

// markdownFiles lists the repository's own Markdown files: not the
// build and test caches, not the Go module cache's copies.
func markdownFiles(t *testing.T, root string) []string {
	t.Helper()
	var pages []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", ".cache", "bin", "testdata":
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(p, ".md") {
			pages = append(pages, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return pages
}

// links returns the link targets of a page, outside code blocks and code
// spans.
func links(t *testing.T, page string) []string {
	t.Helper()
	var out []string
	eachProseLine(t, page, func(line string) {
		for _, m := range link.FindAllStringSubmatch(line, -1) {
			out = append(out, m[1])
		}
	})
	return out
}

// headingAnchors returns the anchors GitHub gives the page's headings:
// lower case, punctuation dropped, spaces as dashes, "-N" for repeats.
func headingAnchors(t *testing.T, page string) map[string]bool {
	t.Helper()
	anchors := map[string]bool{}
	seen := map[string]int{}
	eachLine(t, page, func(line string, inCode bool) {
		if inCode || !strings.HasPrefix(line, "#") {
			return
		}
		text := strings.TrimSpace(strings.TrimLeft(line, "#"))
		if text == "" {
			return
		}
		a := anchor(text)
		if n := seen[a]; n > 0 {
			anchors[a+"-"+strconv.Itoa(n)] = true
		} else {
			anchors[a] = true
		}
		seen[a]++
	})
	return anchors
}

func anchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func eachProseLine(t *testing.T, page string, f func(string)) {
	eachLine(t, page, func(line string, inCode bool) {
		if !inCode {
			f(codeSpan.ReplaceAllString(line, ""))
		}
	})
}

var codeSpan = regexp.MustCompile("`[^`]*`")

func eachLine(t *testing.T, page string, f func(line string, inCode bool)) {
	t.Helper()
	data, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	inCode := false
	s := bufio.NewScanner(bytes.NewReader(data))
	s.Buffer(nil, 1<<20)
	for s.Scan() {
		line := s.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inCode = !inCode
			continue
		}
		f(line, inCode)
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
}
