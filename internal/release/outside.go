package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// installOutside proves that a module outside the repository can install
// every public module from the release alone: see the package doc, step 3.
func (t *tree) installOutside(work, proxy, version string) error {
	proxyURL, stop, err := startProxy(proxy)
	if err != nil {
		return err
	}
	defer stop()
	modcache, err := outsideModCache(t.root)
	if err != nil {
		return err
	}
	dir := filepath.Join(work, "outside")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	env := append(os.Environ(),
		"GOWORK=off",
		"GOFLAGS=-mod=mod -modcacherw",
		"GOTOOLCHAIN=local",
		"GOPROXY="+proxyURL, // see moduleProxy
		// Our release is not in the public checksum database yet; the
		// third-party modules come from a cache the go command verified
		// when it filled it, or from the go command's own proxy.
		"GOSUMDB=off",
		"GOPRIVATE=", "GONOPROXY=", "GONOSUMDB=",
		"GOMODCACHE="+modcache,
		// The module cache is taken to be immutable, so the go command
		// indexes a module's folder once per path@version; ours changes
		// under the same version from run to run.
		"GODEBUG=goindex=0",
	)
	goCmd := func(args ...string) (string, error) {
		out, err := command(dir, env, "go", args...)
		if err != nil {
			return "", fmt.Errorf("outside module: %w", err)
		}
		return out, nil
	}
	if _, err := goCmd("mod", "init", "example.com/outside"); err != nil {
		return err
	}
	get := []string{"get"}
	for _, m := range t.public() {
		get = append(get, m.path+"@"+version)
	}
	if _, err := goCmd(get...); err != nil {
		return err
	}

	// Every public package, imported by one program.
	out, err := goCmd("list", "-e", "-f", "{{.ImportPath}} {{.Name}} {{if .Error}}{{.Error}}{{end}}", ourPrefix+"/...")
	if err != nil {
		return err
	}
	var pkgs []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		if len(f) > 2 {
			return fmt.Errorf("outside module: %s", line)
		}
		if f[1] == "main" || strings.Contains(f[0], "/internal/") || strings.HasSuffix(f[0], "/internal") {
			continue
		}
		pkgs = append(pkgs, f[0])
	}
	sort.Strings(pkgs)
	if len(pkgs) == 0 {
		return fmt.Errorf("outside module: no public package found")
	}
	var src strings.Builder
	src.WriteString("// Program outside imports every public tollgate package.\npackage main\n\nimport (\n")
	for _, p := range pkgs {
		fmt.Fprintf(&src, "\t_ %q\n", p)
	}
	src.WriteString(")\n\nfunc main() {}\n")
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src.String()), 0o644); err != nil {
		return err
	}

	snippets, err := t.copyReadme(filepath.Join(dir, "readme"))
	if err != nil {
		return err
	}
	if _, err := goCmd("vet", "./..."); err != nil {
		return err
	}
	if _, err := goCmd("build", "./..."); err != nil {
		return err
	}

	// Every module of ours in the build list is at the release version.
	out, err = goCmd("list", "-m", "-f", "{{.Path}} {{.Version}} {{if .Replace}}replaced{{end}}", "all")
	if err != nil {
		return err
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || (f[0] != ourPrefix && !strings.HasPrefix(f[0], ourPrefix+"/")) {
			continue
		}
		if f[1] != version || len(f) > 2 {
			return fmt.Errorf("outside module: %s resolved as %q, want %s", f[0], strings.Join(f[1:], " "), version)
		}
		n++
	}
	fmt.Printf("release-check: a module outside the repository installed %d modules at %s from the file proxy alone and built %d public packages and %d README snippets\n",
		n, version, len(pkgs), snippets)
	return nil
}

// outsideModCache returns the outside module's module cache: a cache of its
// own, kept between runs so that the build cache still knows the third-party
// packages' paths, emptied of every module of ours (which a run builds anew
// at the same version). Each checkout (root) has its own, so that checks of
// two checkouts running at once (a clone's test loop beside a worktree's
// check) never empty each other's.
func outsideModCache(root string) (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(abs))
	dir := filepath.Join(base, "tollgate-release", hex.EncodeToString(sum[:8]), "modcache")
	for _, sub := range []string{"", "cache/download"} {
		ours := filepath.Join(dir, filepath.FromSlash(sub), filepath.FromSlash(ourPrefix))
		if err := os.RemoveAll(filepath.Dir(ours)); err != nil {
			return "", fmt.Errorf("emptying the outside module cache of our modules: %w", err)
		}
	}
	return dir, os.MkdirAll(dir, 0o755)
}

// command runs name with args in dir under env and returns what it wrote to
// its standard output. Its standard error is kept apart: the go command
// reports there what it downloads ("go: downloading …", on a cold module
// cache), which must not read as part of its output, such as go list's
// lines. On a failure the error carries both.
func command(dir string, env []string, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.Env = dir, env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %w\n%s%s", name, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}
