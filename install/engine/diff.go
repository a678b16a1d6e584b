package engine

import (
	"bytes"
	"fmt"
	"strings"
)

// contextLines is how many unchanged lines a hunk shows around a change, as
// diff -u does.
const contextLines = 3

// UnifiedDiff returns the differences between a and b in the unified format
// of `diff -u` (readable by patch), or "" when they are equal. The names go
// in the --- and +++ header lines; /dev/null stands for a missing file.
//
// Configuration files are at most a few hundred lines and the installer
// changes few of them, so a longest-common-subsequence table over the lines
// left once the common head and tail are set aside is small and simple.
func UnifiedDiff(fromName, toName string, a, b []byte) string {
	if bytes.Equal(a, b) {
		return ""
	}
	ops := diffLines(splitLines(a), splitLines(b))

	var out strings.Builder
	fmt.Fprintf(&out, "--- %s\n+++ %s\n", fromName, toName)

	// aPos[i] and bPos[i] count the lines of a and b before ops[i].
	aPos := make([]int, len(ops)+1)
	bPos := make([]int, len(ops)+1)
	for i, op := range ops {
		aPos[i+1], bPos[i+1] = aPos[i], bPos[i]
		if op.kind != '+' {
			aPos[i+1]++
		}
		if op.kind != '-' {
			bPos[i+1]++
		}
	}

	for i := 0; i < len(ops); {
		if ops[i].kind == ' ' {
			i++
			continue
		}
		// A hunk starts contextLines before this change and extends over
		// every change separated from the previous one by at most twice
		// that many unchanged lines.
		start := max(0, i-contextLines)
		end := i + 1
		for j := i + 1; j < len(ops); j++ {
			if ops[j].kind == ' ' {
				continue
			}
			if j-end > 2*contextLines {
				break
			}
			end = j + 1
		}
		end = min(len(ops), end+contextLines)

		fmt.Fprintf(&out, "@@ -%s +%s @@\n",
			hunkRange(aPos[start], aPos[end]-aPos[start]),
			hunkRange(bPos[start], bPos[end]-bPos[start]))
		for _, op := range ops[start:end] {
			out.WriteByte(op.kind)
			out.WriteString(op.line)
			if !strings.HasSuffix(op.line, "\n") {
				out.WriteString("\n\\ No newline at end of file\n")
			}
		}
		i = end
	}
	return out.String()
}

// hunkRange formats a hunk's line range as diff -u does: 1-based start,
// length omitted when 1, and the line before when the range is empty.
func hunkRange(start, length int) string {
	switch length {
	case 0:
		return fmt.Sprintf("%d,0", start)
	case 1:
		return fmt.Sprintf("%d", start+1)
	default:
		return fmt.Sprintf("%d,%d", start+1, length)
	}
}

type diffOp struct {
	kind byte // ' ' kept, '-' removed, '+' added
	line string
}

// splitLines splits after each newline; a last line without one is kept.
func splitLines(b []byte) []string {
	var lines []string
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			lines = append(lines, string(b))
			break
		}
		lines = append(lines, string(b[:i+1]))
		b = b[i+1:]
	}
	return lines
}

// diffLines returns an edit script from a to b that keeps a longest common
// subsequence of lines.
func diffLines(a, b []string) []diffOp {
	var ops []diffOp
	head := 0
	for head < len(a) && head < len(b) && a[head] == b[head] {
		ops = append(ops, diffOp{' ', a[head]})
		head++
	}
	tail := 0
	for tail < len(a)-head && tail < len(b)-head && a[len(a)-1-tail] == b[len(b)-1-tail] {
		tail++
	}
	ma, mb := a[head:len(a)-tail], b[head:len(b)-tail]

	// lcs[i][j] is the length of the longest common subsequence of ma[i:]
	// and mb[j:].
	lcs := make([][]int32, len(ma)+1)
	for i := range lcs {
		lcs[i] = make([]int32, len(mb)+1)
	}
	for i := len(ma) - 1; i >= 0; i-- {
		for j := len(mb) - 1; j >= 0; j-- {
			if ma[i] == mb[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	i, j := 0, 0
	for i < len(ma) || j < len(mb) {
		switch {
		case i < len(ma) && j < len(mb) && ma[i] == mb[j]:
			ops = append(ops, diffOp{' ', ma[i]})
			i++
			j++
		case i < len(ma) && j < len(mb) && lcs[i+1][j+1] == lcs[i][j]:
			// Replacing the line keeps the subsequence longest: show it
			// as a replacement, where diff -u would, rather than as a
			// removal here and an addition further on.
			ops = append(ops, diffOp{'-', ma[i]}, diffOp{'+', mb[j]})
			i++
			j++
		case i < len(ma) && (j == len(mb) || lcs[i+1][j] >= lcs[i][j+1]):
			// Removals first, as diff -u shows a replaced line.
			ops = append(ops, diffOp{'-', ma[i]})
			i++
		default:
			ops = append(ops, diffOp{'+', mb[j]})
			j++
		}
	}
	for _, line := range a[len(a)-tail:] {
		ops = append(ops, diffOp{' ', line})
	}
	groupChanges(ops)
	return ops
}

// groupChanges puts, within each run of changed lines, the removed lines
// before the added ones, as diff -u shows a block of replaced lines.
func groupChanges(ops []diffOp) {
	for start := 0; start < len(ops); {
		if ops[start].kind == ' ' {
			start++
			continue
		}
		end := start
		for end < len(ops) && ops[end].kind != ' ' {
			end++
		}
		run := append([]diffOp(nil), ops[start:end]...)
		k := start
		for _, kind := range []byte{'-', '+'} {
			for _, op := range run {
				if op.kind == kind {
					ops[k] = op
					k++
				}
			}
		}
		start = end
	}
}
