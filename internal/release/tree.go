package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
)

// ourPrefix is the module path every tollgate module starts with.
const ourPrefix = "github.com/tollgate-go/tollgate"

// mod is one module of the repository.
type mod struct {
	dir  string // relative to the root, "." for the root module
	path string
	file *modfile.File
}

// public reports whether users may require the module: everything but the
// test-only modules under internal/, the examples and the benchmarks.
func (m *mod) public() bool {
	for _, private := range []string{"internal", "examples", "bench"} {
		if m.dir == private || strings.HasPrefix(m.dir, private+"/") {
			return false
		}
	}
	return true
}

// tag is the git tag a release of the module carries: v1.2.3 for the root
// module, dir/v1.2.3 for the others.
func (m *mod) tag(version string) string {
	if m.dir == "." {
		return version
	}
	return m.dir + "/" + version
}

type tree struct {
	root    string
	modules []*mod // sorted by dir
}

// scan finds every go.mod under root, skipping testdata and hidden folders.
func scan(root string) (*tree, error) {
	t := &tree{root: root}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if p != root && (strings.HasPrefix(name, ".") || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Name() != "go.mod" {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		f, err := modfile.Parse(p, data, nil)
		if err != nil {
			return err
		}
		if f.Module == nil {
			return fmt.Errorf("%s: no module line", p)
		}
		rel, _ := filepath.Rel(root, filepath.Dir(p))
		t.modules = append(t.modules, &mod{dir: filepath.ToSlash(rel), path: f.Module.Mod.Path, file: f})
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(t.modules, func(i, j int) bool { return t.modules[i].dir < t.modules[j].dir })
	if len(t.modules) == 0 || t.modules[0].dir != "." {
		return nil, fmt.Errorf("%s: no root go.mod", root)
	}
	return t, nil
}

func (t *tree) public() []*mod {
	var out []*mod
	for _, m := range t.modules {
		if m.public() {
			out = append(out, m)
		}
	}
	return out
}

func (t *tree) byPath(path string) *mod {
	for _, m := range t.modules {
		if m.path == path {
			return m
		}
	}
	return nil
}

// checkRequirements returns one error per requirement of ours that no
// release can serve: a version other than the release version, a module
// that is not public, or a path that no module of the tree has. It also
// checks that each module's path matches its folder, which the release
// tags rely on.
func (t *tree) checkRequirements(version string) []error {
	var errs []error
	if !semver.IsValid(version) || semver.Canonical(version) != version {
		errs = append(errs, fmt.Errorf("release version %q is not a semantic version (want vMAJOR.MINOR.PATCH)", version))
		return errs
	}
	if module.IsPseudoVersion(version) {
		errs = append(errs, fmt.Errorf("release version %q is a pseudo-version; a release is tagged", version))
		return errs
	}
	for _, m := range t.modules {
		want := ourPrefix
		if m.dir != "." {
			want += "/" + m.dir
		}
		if m.path != want {
			errs = append(errs, fmt.Errorf("%s: module path %s, want %s (the folder decides the tag)", m.gomod(), m.path, want))
		}
		for _, r := range m.file.Require {
			p, v := r.Mod.Path, r.Mod.Version
			if p != ourPrefix && !strings.HasPrefix(p, ourPrefix+"/") {
				continue
			}
			dep := t.byPath(p)
			switch {
			case dep == nil:
				errs = append(errs, fmt.Errorf("%s: requires %s %s: no module of the repository has this path, so no release can serve it", m.gomod(), p, v))
			case !dep.public():
				errs = append(errs, fmt.Errorf("%s: requires %s %s: a test-only module (%s), which is never released", m.gomod(), p, v, dep.dir))
			case v != version:
				why := "a different version"
				if module.IsPseudoVersion(v) {
					why = "a pseudo-version no release can carry"
				}
				errs = append(errs, fmt.Errorf("%s: requires %s at %s, %s; want the release version %s", m.gomod(), p, v, why, version))
			}
		}
	}
	return errs
}

func (m *mod) gomod() string { return filepath.ToSlash(filepath.Join(m.dir, "go.mod")) }
