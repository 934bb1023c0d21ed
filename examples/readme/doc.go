// Package readme holds, in compiled Go, every Go block of the repository's
// README.md: each block is a region marked "// README: name" … "// README: end"
// in one of the packages below (the regions with one name are joined by a
// blank line, so a block can show an import list and the code using it).
// make release-check fails when a block matches no region or a region no
// block, and compiles these packages in a module outside the repository
// against the release; make test builds them in the workspace too.
package readme
