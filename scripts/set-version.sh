#!/usr/bin/env bash
# set-version: write VERSION and make every go.mod of the repository require
# our modules at that version (see RELEASING.md).
#
#   scripts/set-version.sh v0.2.0
set -euo pipefail
cd "$(dirname "$0")/.."
v=${1:?usage: scripts/set-version.sh vMAJOR.MINOR.PATCH}
[[ $v =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]] || { echo "set-version: $v is not vMAJOR.MINOR.PATCH"; exit 1; }
echo "$v" > VERSION
for f in $(git ls-files '*go.mod' 'go.mod'); do
	# "path version" pairs only: module lines have no version, and replace
	# lines have "=>" after the path.
	sed -i -E "s#(github\.com/tollgate-go/tollgate(/[A-Za-z0-9_./-]+)?) v[0-9][^ ]*#\1 $v#" "$f"
done
echo "set-version: VERSION and every requirement of ours at $v; run make test"
