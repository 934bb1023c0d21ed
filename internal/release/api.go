package main

import (
	"fmt"
	"go/types"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/exp/apidiff"
	"golang.org/x/mod/semver"
	"golang.org/x/tools/go/packages"
)

// apiReport compares each public module's API with the base's (step 4 of the
// package doc). With no base given and no release tag yet, there is nothing
// to compare and it says so.
func (t *tree) apiReport(work, version, base string) error {
	if base == "" {
		base = t.previousRelease(version)
		if base == "" {
			fmt.Println("release-check: API report: no release tag before", version, "(first release); give -base REF to compare with a commit")
			return nil
		}
	}
	old := filepath.Join(work, "base")
	if err := os.MkdirAll(old, 0o755); err != nil {
		return err
	}
	archive := exec.Command("sh", "-c", fmt.Sprintf("git -C %q archive --format=tar %q | tar -x -C %q", t.root, base, old))
	if out, err := archive.CombinedOutput(); err != nil {
		return fmt.Errorf("API report: extracting %s: %v\n%s", base, err, out)
	}
	oldPkgs, err := loadAPI(old)
	if err != nil {
		return fmt.Errorf("API report: %s: %w", base, err)
	}
	newPkgs, err := loadAPI(t.root)
	if err != nil {
		return fmt.Errorf("API report: working tree: %w", err)
	}
	incompatible := 0
	fmt.Printf("release-check: API report, %s against %s (golang.org/x/exp/apidiff)\n", version, base)
	for _, m := range t.public() {
		oldMod := &apidiff.Module{Path: m.path, Packages: t.packagesOf(m, oldPkgs)}
		newMod := &apidiff.Module{Path: m.path, Packages: t.packagesOf(m, newPkgs)}
		r := apidiff.ModuleChanges(oldMod, newMod)
		var bad, good []string
		for _, c := range r.Changes {
			if c.Compatible {
				good = append(good, c.Message)
			} else {
				bad = append(bad, c.Message)
			}
		}
		incompatible += len(bad)
		fmt.Printf("  %s: %d incompatible, %d compatible changes\n", m.path, len(bad), len(good))
		for _, msg := range bad {
			fmt.Println("    incompatible:", msg)
		}
	}
	if incompatible > 0 && semver.Major(version) != "v0" {
		return fmt.Errorf("API report: %d incompatible changes since %s; a %s release must keep the API (or change the major version)", incompatible, base, semver.Major(version))
	}
	return nil
}

// previousRelease returns the newest tag of the root module older than
// version, or "".
func (t *tree) previousRelease(version string) string {
	out, err := exec.Command("git", "-C", t.root, "tag", "--list", "v*").Output()
	if err != nil {
		return ""
	}
	best := ""
	for _, tag := range strings.Fields(string(out)) {
		if semver.IsValid(tag) && semver.Compare(tag, version) < 0 && (best == "" || semver.Compare(tag, best) > 0) {
			best = tag
		}
	}
	return best
}

// loadAPI type-checks every package of ours that the tree at dir builds, in
// workspace mode when it has a go.work.
func loadAPI(dir string) (map[string]*types.Package, error) {
	env := append(os.Environ(), "GOFLAGS=", "GOTOOLCHAIN=local")
	if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
		env = append(env, "GOWORK="+filepath.Join(dir, "go.work"))
	} else {
		env = append(env, "GOWORK=off")
	}
	cfg := &packages.Config{Mode: packages.NeedName | packages.NeedTypes, Dir: dir, Env: env}
	pkgs, err := packages.Load(cfg, ourPrefix+"/...")
	if err != nil {
		return nil, err
	}
	out := map[string]*types.Package{}
	for _, p := range pkgs {
		if len(p.Errors) > 0 {
			return nil, fmt.Errorf("%s: %v", p.PkgPath, p.Errors[0])
		}
		if p.Name == "main" || p.Types == nil {
			continue
		}
		out[p.PkgPath] = p.Types
	}
	return out, nil
}

// packagesOf returns the public packages of pkgs that belong to module m in
// today's layout: m's path is their longest module prefix.
func (t *tree) packagesOf(m *mod, pkgs map[string]*types.Package) []*types.Package {
	var out []*types.Package
	for path, p := range pkgs {
		if strings.Contains(path+"/", "/internal/") {
			continue
		}
		owner := ""
		for _, o := range t.modules {
			if (path == o.path || strings.HasPrefix(path, o.path+"/")) && len(o.path) > len(owner) {
				owner = o.path
			}
		}
		if owner == m.path {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path() < out[j].Path() })
	return out
}
