// Command release is the release check: it proves that every public tollgate
// module can be installed by a module outside the repository, from a release,
// with nothing but that release to go on.
//
//	go run . -root ../.. [-version v0.1.0] [-base <git ref>]
//
// It checks, in order:
//
//  1. Requirements. Every go.mod in the repository requires our own modules
//     at the release version (VERSION at the root), and only public ones: a
//     pseudo-version such as v0.0.0-00010101000000-000000000000, a module no
//     release can serve (a test-only or example module), or a path no module
//     in the tree has fails, naming the go.mod and the requirement.
//  2. A file module proxy. Each public module is zipped from the working tree
//     at the release version (golang.org/x/mod/zip, the format the go
//     command downloads) into a GOPROXY directory.
//  3. An outside module. In a temporary directory outside the repository, with
//     GOWORK=off, a module cache of its own and GOPROXY naming only a
//     loopback proxy that serves our modules from that proxy alone (a
//     module or version of ours it lacks is an error, never fetched
//     elsewhere) and third-party modules from the local module cache, or
//     from the go command's own proxy when the cache lacks one, a fresh module
//     runs `go get` for every public module, then `go vet` on a program that
//     imports every public package and on the README's Go snippets
//     (examples/readme, see readme.go).
//  4. An API report. Each public module's packages are compared with those of
//     the base (the newest release tag, or -base), with
//     golang.org/x/exp/apidiff; incompatible changes fail the check from v1
//     on and are reported before that.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	root := flag.String("root", ".", "the repository's root")
	version := flag.String("version", "", "the release version (default: the VERSION file)")
	base := flag.String("base", "", "git ref to compare the API with (default: the newest release tag)")
	keep := flag.Bool("keep", false, "keep the temporary proxy and outside module, and print where")
	fix := flag.Bool("fix-readme", false, "rewrite each README Go block that matches no region of examples/readme with its closest region, and stop")
	flag.Parse()
	if *fix {
		if err := fixReadme(filepath.Join(*root, "README.md"), filepath.Join(*root, filepath.FromSlash(readmeDir))); err != nil {
			fmt.Fprintln(os.Stderr, "release-check:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*root, *version, *base, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "release-check:", err)
		os.Exit(1)
	}
}

func run(root, version, base string, keep bool) error {
	root, err := filepath.Abs(root)
	if err != nil {
		return err
	}
	if version == "" {
		b, err := os.ReadFile(filepath.Join(root, "VERSION"))
		if err != nil {
			return fmt.Errorf("no -version and no VERSION file: %w", err)
		}
		version = strings.TrimSpace(string(b))
	}
	tree, err := scan(root)
	if err != nil {
		return err
	}
	if errs := tree.checkRequirements(version); len(errs) > 0 {
		return errors.Join(errs...)
	}
	fmt.Printf("release-check: %d modules in the tree, %d public, every requirement of ours at %s\n",
		len(tree.modules), len(tree.public()), version)

	work, err := os.MkdirTemp("", "tollgate-release-")
	if err != nil {
		return err
	}
	if keep {
		fmt.Println("release-check: working directory", work)
	} else {
		defer os.RemoveAll(work)
	}
	proxy := filepath.Join(work, "proxy")
	if err := tree.buildProxy(proxy, version); err != nil {
		return err
	}
	if err := tree.installOutside(work, proxy, version); err != nil {
		return err
	}
	return tree.apiReport(work, version, base)
}
