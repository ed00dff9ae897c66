#!/usr/bin/env bash
# make fuzz: run every Fuzz* target of the module for FUZZTIME (default 30s), one at a time.
# New crashers land in the package's testdata/fuzz/ (a regression corpus to commit).
# Keeps going after a failing target and exits non-zero at the end if any failed.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-30s}

# `go test -list` prints each package's matching names, then "ok <package> <time>".
if ! list=$("$GO" test -list '^Fuzz' ./...); then
	printf '%s\n' "$list" | grep -v '^Fuzz' >&2
	echo "fuzz: listing the Fuzz targets failed (build errors above)" >&2
	exit 1
fi
targets=$(awk '/^Fuzz/ { names[n++] = $1; next } /^ok[ \t]/ { for (i = 0; i < n; i++) print $2, names[i]; n = 0 }' <<<"$list")
if [ -z "$targets" ]; then
	echo "fuzz: no Fuzz targets found"
	exit 0
fi
total=$(wc -l <<<"$targets")
i=0
failed=()
while read -r pkg name <&3; do
	i=$((i + 1))
	echo "fuzz [$i/$total] $pkg $name for $FUZZTIME"
	"$GO" test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$pkg" || failed+=("$pkg $name")
done 3<<<"$targets"
if [ ${#failed[@]} -gt 0 ]; then
	printf 'fuzz: FAILED %s\n' "${failed[@]}"
	exit 1
fi
echo "fuzz: $total targets ran for $FUZZTIME each, no failure"
