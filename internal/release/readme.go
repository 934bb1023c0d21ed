package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// The README's Go blocks are compiled through examples/readme: each block is
// the text of one named region there, or of several regions with the same
// name joined by a blank line (an import block and the code that uses it),
// marked in the Go files as
//
//	// README: name
//	...
//	// README: end
//
// Indentation common to a region's lines is removed before comparing. A
// block that matches no region, or a region that no block shows, fails the
// check: either the README shows code nobody compiles, or compiled code
// drifted from what the README shows.
const readmeDir = "examples/readme"

type region struct {
	name string
	at   string // file:line of its first marker
	text string
}

// readmeBlocks returns the README's ```go blocks with their line numbers.
func readmeBlocks(readme string) (blocks []string, lines []int, err error) {
	data, err := os.ReadFile(readme)
	if err != nil {
		return nil, nil, err
	}
	var cur []string
	in, start := false, 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case !in && strings.TrimSpace(line) == "```go":
			in, start, cur = true, n, nil
		case in && strings.TrimSpace(line) == "```":
			in = false
			blocks = append(blocks, normalize(cur))
			lines = append(lines, start)
		case in:
			cur = append(cur, line)
		}
	}
	if in {
		return nil, nil, fmt.Errorf("%s:%d: a ```go block is never closed", readme, start)
	}
	return blocks, lines, sc.Err()
}

// readmeRegions returns the named regions of the Go files in dir, each name's
// regions joined in file order.
func readmeRegions(dir string) (map[string]region, error) {
	files, err := goFiles(dir)
	if err != nil {
		return nil, err
	}
	out := map[string]region{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var cur []string
		name, start := "", 0
		for i, line := range strings.Split(string(data), "\n") {
			marker, ok := strings.CutPrefix(strings.TrimSpace(line), "// README:")
			if !ok {
				if name != "" {
					cur = append(cur, line)
				}
				continue
			}
			marker = strings.TrimSpace(marker)
			rel, _ := filepath.Rel(dir, f)
			at := fmt.Sprintf("%s:%d", filepath.ToSlash(rel), i+1)
			switch {
			case marker == "end" && name == "":
				return nil, fmt.Errorf("%s: README: end without a start", at)
			case marker == "end":
				r := out[name]
				text := normalize(cur)
				if r.text != "" {
					text = r.text + "\n\n" + text
				} else {
					r.at = fmt.Sprintf("%s:%d", at[:strings.LastIndexByte(at, ':')], start)
				}
				out[name] = region{name: name, at: r.at, text: text}
				name = ""
			case name != "":
				return nil, fmt.Errorf("%s: README: %s starts inside region %s", at, marker, name)
			case marker == "":
				return nil, fmt.Errorf("%s: README: marker without a name", at)
			default:
				name, start, cur = marker, i+1, nil
			}
		}
		if name != "" {
			return nil, fmt.Errorf("%s: region %s is never ended (// README: end)", f, name)
		}
	}
	return out, nil
}

// checkReadme matches every README block with a region and every region with
// a block; it returns the number of blocks.
func checkReadme(readme, dir string) (int, error) {
	blocks, lines, err := readmeBlocks(readme)
	if err != nil {
		return 0, err
	}
	regions, err := readmeRegions(dir)
	if err != nil {
		return 0, err
	}
	used := map[string]bool{}
	var problems []string
	for i, b := range blocks {
		found := false
		for name, r := range regions {
			if r.text == b {
				used[name], found = true, true
			}
		}
		if !found {
			problems = append(problems, fmt.Sprintf("%s:%d: this Go block matches no region of %s, so nothing compiles it (closest: %s)",
				filepath.Base(readme), lines[i], readmeDir, closest(b, regions)))
		}
	}
	var unused []string
	for name, r := range regions {
		if !used[name] {
			unused = append(unused, fmt.Sprintf("%s/%s: region %s is shown by no Go block of %s", readmeDir, r.at, name, filepath.Base(readme)))
		}
	}
	sort.Strings(unused)
	problems = append(problems, unused...)
	if len(problems) > 0 {
		return 0, fmt.Errorf("README snippets:\n  %s", strings.Join(problems, "\n  "))
	}
	return len(blocks), nil
}

// closest names the region sharing the longest common prefix with b, and the
// first line where they differ, to make a drifted block easy to fix.
func closest(b string, regions map[string]region) string {
	best := closestName(b, regions)
	if best == "" {
		return "none"
	}
	r := regions[best].text
	n := 0
	for n < len(b) && n < len(r) && b[n] == r[n] {
		n++
	}
	return fmt.Sprintf("%s, which differs from line %d of the block", best, strings.Count(b[:n], "\n")+1)
}

func closestName(b string, regions map[string]region) string {
	best, bestN := "", -1
	for name, r := range regions {
		n := 0
		for n < len(b) && n < len(r.text) && b[n] == r.text[n] {
			n++
		}
		if n > bestN || n == bestN && name < best {
			best, bestN = name, n
		}
	}
	return best
}

// normalize drops leading and trailing blank lines, trailing spaces and the
// indentation common to all non-blank lines.
func normalize(lines []string) string {
	for len(lines) > 0 && strings.TrimSpace(lines[0]) == "" {
		lines = lines[1:]
	}
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	prefix := ""
	first := true
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		ind := l[:len(l)-len(strings.TrimLeft(l, " \t"))]
		if first {
			prefix, first = ind, false
			continue
		}
		for !strings.HasPrefix(ind, prefix) {
			prefix = prefix[:len(prefix)-1]
		}
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = strings.TrimRight(strings.TrimPrefix(l, prefix), " \t")
	}
	return strings.Join(out, "\n")
}

// copyReadme checks the README's blocks against examples/readme and copies
// that package into dst, for the outside module to compile.
func (t *tree) copyReadme(dst string) (int, error) {
	src := filepath.Join(t.root, filepath.FromSlash(readmeDir))
	n, err := checkReadme(filepath.Join(t.root, "README.md"), src)
	if err != nil {
		return 0, err
	}
	files, err := goFiles(src)
	if err != nil {
		return 0, err
	}
	for _, f := range files {
		rel, _ := filepath.Rel(src, f)
		to := filepath.Join(dst, rel)
		data, err := os.ReadFile(f)
		if err != nil {
			return 0, err
		}
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return 0, err
		}
		if err := os.WriteFile(to, data, 0o644); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// goFiles returns the .go files under dir, sorted.
func goFiles(dir string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".go") {
			files = append(files, p)
		}
		return err
	})
	sort.Strings(files)
	return files, err
}

// fixReadme rewrites each README block that matches no region with the text
// of its closest region (see closest), for a person to review with git diff
// after changing examples/readme.
func fixReadme(readme, dir string) error {
	regions, err := readmeRegions(dir)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(readme)
	if err != nil {
		return err
	}
	lines := strings.Split(string(data), "\n")
	var out, cur []string
	in := false
	for _, line := range lines {
		switch {
		case !in && strings.TrimSpace(line) == "```go":
			in, cur = true, nil
			out = append(out, line)
		case in && strings.TrimSpace(line) == "```":
			in = false
			b := normalize(cur)
			text := b
			if _, ok := matching(b, regions); !ok {
				if name := closestName(b, regions); name != "" {
					text = regions[name].text
				}
			}
			out = append(out, strings.Split(text, "\n")...)
			out = append(out, line)
		case in:
			cur = append(cur, line)
		default:
			out = append(out, line)
		}
	}
	return os.WriteFile(readme, []byte(strings.Join(out, "\n")), 0o644)
}

func matching(b string, regions map[string]region) (string, bool) {
	for name, r := range regions {
		if r.text == b {
			return name, true
		}
	}
	return "", false
}
