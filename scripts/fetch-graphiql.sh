#!/usr/bin/env bash
# Fetch the GraphiQL browser bundles from the npm registry into registry/api/static/graphiql/.
#
# The files are vendored (committed, gzip-compressed) so that a fresh clone serves GraphiQL with no
# network step; this script is how they were made and how to refresh them. It runs
# `npm pack` for the pinned versions below in a temporary directory, copies the four UMD/standalone
# files plus the licenses, writes SHA256SUMS of the uncompressed files and gzips each asset
# (`gzip -n -9`: no name or time stamp, so the output depends only on the input).
#
#   scripts/fetch-graphiql.sh           # (re)write the vendored files
#   scripts/fetch-graphiql.sh --check   # fetch again and compare with the committed files; no writes
#
# To upgrade, change the versions here, run the script and commit the folder. Needs npm, gzip, sha256sum.
set -euo pipefail

GRAPHIQL_VERSION=3.8.3
REACT_VERSION=18.3.1

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEST="$ROOT/registry/api/static/graphiql"
ASSETS=(graphiql.min.js graphiql.min.css react.production.min.js react-dom.production.min.js)

fail() {
    echo "fetch-graphiql: $*" >&2
    exit 1
}

check=0
case "${1:-}" in
    "") ;;
    --check) check=1 ;;
    *) fail "usage: $0 [--check]" ;;
esac
for tool in npm gzip sha256sum tar; do
    command -v "$tool" >/dev/null 2>&1 || fail "$tool not found"
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
npm pack --silent "graphiql@$GRAPHIQL_VERSION" "react@$REACT_VERSION" "react-dom@$REACT_VERSION" >/dev/null \
    || fail "npm pack failed (is the npm registry reachable?)"
mkdir graphiql react react-dom out
tar -xzf "graphiql-$GRAPHIQL_VERSION.tgz" -C graphiql
tar -xzf "react-$REACT_VERSION.tgz" -C react
tar -xzf "react-dom-$REACT_VERSION.tgz" -C react-dom

cp graphiql/package/graphiql.min.js graphiql/package/graphiql.min.css out/
cp react/package/umd/react.production.min.js out/
cp react-dom/package/umd/react-dom.production.min.js out/
cp graphiql/package/LICENSE out/LICENSE.graphiql
cp react/package/LICENSE out/LICENSE.react
cmp -s react/package/LICENSE react-dom/package/LICENSE || fail "react-dom's LICENSE differs from react's"
(cd out && sha256sum "${ASSETS[@]}" >SHA256SUMS)

if [[ $check -eq 1 ]]; then
    cmp -s out/SHA256SUMS "$DEST/SHA256SUMS" || fail "SHA256SUMS differs from $DEST/SHA256SUMS"
    for name in "${ASSETS[@]}"; do
        gzip -dc "$DEST/$name.gz" | cmp -s - "out/$name" || fail "$DEST/$name.gz does not match npm"
    done
    for name in LICENSE.graphiql LICENSE.react; do
        cmp -s "out/$name" "$DEST/$name" || fail "$DEST/$name does not match npm"
    done
    echo "fetch-graphiql: $DEST matches graphiql@$GRAPHIQL_VERSION, react@$REACT_VERSION, react-dom@$REACT_VERSION"
    exit 0
fi

mkdir -p "$DEST"
for name in "${ASSETS[@]}"; do
    gzip -n -9 -c "out/$name" >"$DEST/$name.gz"
done
cp out/SHA256SUMS out/LICENSE.graphiql out/LICENSE.react "$DEST/"
echo "fetch-graphiql: wrote $DEST ($(du -sh "$DEST" | cut -f1)):" \
    "graphiql@$GRAPHIQL_VERSION, react@$REACT_VERSION, react-dom@$REACT_VERSION" >&2
