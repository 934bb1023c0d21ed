package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeTree writes files (path → content) under a temporary root.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, c := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

const rootMod = "module github.com/tollgate-go/tollgate\n\ngo 1.25.0\n"

func TestRequirementsNoReleaseCanServeAreNamed(t *testing.T) {
	cases := []struct {
		name  string
		gomod string
		want  string
	}{
		{
			"a pseudo-version of a sibling",
			"module github.com/tollgate-go/tollgate/chimw\n\ngo 1.25.0\n\nrequire github.com/tollgate-go/tollgate v0.0.0-00010101000000-000000000000\n",
			"chimw/go.mod: requires github.com/tollgate-go/tollgate at v0.0.0-00010101000000-000000000000, a pseudo-version no release can carry; want the release version v0.1.0",
		},
		{
			"an older release of a sibling",
			"module github.com/tollgate-go/tollgate/chimw\n\ngo 1.25.0\n\nrequire github.com/tollgate-go/tollgate v0.0.9\n",
			"chimw/go.mod: requires github.com/tollgate-go/tollgate at v0.0.9, a different version; want the release version v0.1.0",
		},
		{
			"a test-only module",
			"module github.com/tollgate-go/tollgate/chimw\n\ngo 1.25.0\n\nrequire github.com/tollgate-go/tollgate/internal/kit v0.1.0\n",
			"chimw/go.mod: requires github.com/tollgate-go/tollgate/internal/kit v0.1.0: a test-only module (internal/kit), which is never released",
		},
		{
			"a module that no longer exists",
			"module github.com/tollgate-go/tollgate/chimw\n\ngo 1.25.0\n\nrequire github.com/tollgate-go/tollgate/core v0.1.0\n",
			"chimw/go.mod: requires github.com/tollgate-go/tollgate/core v0.1.0: no module of the repository has this path, so no release can serve it",
		},
		{
			"a module path that does not match its folder",
			"module github.com/tollgate-go/tollgate/chi\n\ngo 1.25.0\n",
			"chimw/go.mod: module path github.com/tollgate-go/tollgate/chi, want github.com/tollgate-go/tollgate/chimw",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := writeTree(t, map[string]string{
				"go.mod":              rootMod,
				"chimw/go.mod":        c.gomod,
				"internal/kit/go.mod": "module github.com/tollgate-go/tollgate/internal/kit\n\ngo 1.25.0\n",
			})
			tr, err := scan(root)
			if err != nil {
				t.Fatal(err)
			}
			errs := tr.checkRequirements("v0.1.0")
			if len(errs) != 1 || !strings.Contains(errs[0].Error(), c.want) {
				t.Fatalf("errors %v, want one containing %q", errs, c.want)
			}
		})
	}
}

func TestRequirementsAtTheReleaseVersionPass(t *testing.T) {
	root := writeTree(t, map[string]string{
		"go.mod":          rootMod,
		"chimw/go.mod":    "module github.com/tollgate-go/tollgate/chimw\n\ngo 1.25.0\n\nrequire github.com/tollgate-go/tollgate v0.1.0\n\nreplace github.com/tollgate-go/tollgate => ../\n",
		"examples/go.mod": "module github.com/tollgate-go/tollgate/examples\n\ngo 1.25.0\n\nrequire (\n\tgithub.com/tollgate-go/tollgate v0.1.0\n\tgithub.com/tollgate-go/tollgate/chimw v0.1.0\n)\n",
	})
	tr, err := scan(root)
	if err != nil {
		t.Fatal(err)
	}
	if errs := tr.checkRequirements("v0.1.0"); len(errs) != 0 {
		t.Fatalf("errors %v, want none", errs)
	}
	var public []string
	for _, m := range tr.public() {
		public = append(public, m.dir)
	}
	if got := strings.Join(public, " "); got != ". chimw" {
		t.Fatalf("public modules %q, want \". chimw\" (examples is not released)", got)
	}
	if errs := tr.checkRequirements("v0.1"); len(errs) != 1 || !strings.Contains(errs[0].Error(), "not a semantic version") {
		t.Fatalf("release version v0.1: errors %v, want one saying it is not a semantic version", errs)
	}
}

// TestTheRepositoryIsReleasable runs the requirement check on this
// repository itself, so that make test fails on a bad go.mod even before the
// slower release check runs.
func TestTheRepositoryIsReleasable(t *testing.T) {
	tr, err := scan("../..")
	if err != nil {
		t.Fatal(err)
	}
	version, err := os.ReadFile("../../VERSION")
	if err != nil {
		t.Fatal(err)
	}
	if errs := tr.checkRequirements(strings.TrimSpace(string(version))); len(errs) != 0 {
		t.Fatalf("%v", errs)
	}
}

func TestReadmeBlocksMatchRegions(t *testing.T) {
	readme := "# x\n\n```go\nimport \"fmt\"\n\nfmt.Println(1)\n```\n\ntext\n\n```go\nx := 2\n```\n"
	code := "package p\n\n// README: one\nimport \"fmt\"\n\n// README: end\n\nfunc f() {\n\t// README: one\n\tfmt.Println(1)\n\t// README: end\n}\n"
	cases := []struct {
		name   string
		extra  string // a second Go file
		want   string // "" means no error
		blocks int
	}{
		{"a block with no region fails, naming its line", "", "README.md:11: this Go block matches no region", 0},
		{"every block matched passes", "package p\n\nfunc g() {\n\t// README: two\n\tx := 2\n\t// README: end\n\t_ = x\n}\n", "", 2},
		{"a region no block shows fails, naming it", "package p\n\nfunc g() {\n\t// README: two\n\tx := 2\n\t// README: end\n\t// README: three\n\t_ = x\n\t// README: end\n}\n", "region three is shown by no Go block", 0},
		{"an unclosed region fails", "package p\n\n// README: two\n", "never ended", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			files := map[string]string{"README.md": readme, "readme/a/a.go": code}
			if c.extra != "" {
				files["readme/b/b.go"] = c.extra
			}
			root := writeTree(t, files)
			n, err := checkReadme(filepath.Join(root, "README.md"), filepath.Join(root, "readme"))
			switch {
			case c.want == "" && (err != nil || n != c.blocks):
				t.Fatalf("got %d blocks, %v; want %d, no error", n, err, c.blocks)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}

func TestTheReadmeMatchesExamplesReadme(t *testing.T) {
	n, err := checkReadme("../../README.md", "../../examples/readme")
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("README.md has no Go block")
	}
}
