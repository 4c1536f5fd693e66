#!/usr/bin/env bash
# Installs the pinned official TypeScript SDK (@daytonaio/sdk, see ts/package.json) for the SDK
# conformance suite into <cache dir>/node-daytona, with `npm ci` from the committed
# ts/package-lock.json, so every install resolves the same dependency tree.
# Usage: setup-node.sh <cache dir>. Idempotent: when the directory was installed from the same
# lockfile (a stamp holds its sha256) and still has the pinned SDK, nothing runs (no node, no npm).
set -euo pipefail

if [ "$#" -ne 1 ] || [ -z "$1" ]; then
  echo "usage: $0 <cache dir>   (e.g. /var/cache/sandbar-ci)" >&2
  exit 2
fi
here="$(cd "$(dirname "$0")" && pwd)"
cache="$1"
dir="$cache/node-daytona"
lock="$here/ts/package-lock.json"
manifest="$here/ts/package.json"
stamp="$dir/.sandbar-installed"

command -v node >/dev/null || { echo "setup-node.sh: node is not installed" >&2; exit 2; }
command -v npm >/dev/null || { echo "setup-node.sh: npm is not installed" >&2; exit 2; }

# The exact version pinned in ts/package.json ("@daytonaio/sdk": "0.218.0").
pinned="$(sed -n 's/^[[:space:]]*"@daytonaio\/sdk":[[:space:]]*"\([0-9][0-9.]*\)".*/\1/p' "$manifest")"
[ -n "$pinned" ] || { echo "setup-node.sh: no exact @daytonaio/sdk version in $manifest" >&2; exit 2; }
want="$(cat "$manifest" "$lock" | sha256sum | cut -d' ' -f1)"

# Prints the version of the installed SDK, or nothing.
installed_version() {
  local pkg="$dir/node_modules/@daytonaio/sdk/package.json"
  [ -f "$pkg" ] || return 0
  sed -n 's/^[[:space:]]*"version":[[:space:]]*"\([^"]*\)".*/\1/p' "$pkg" | head -1
}

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ "$(installed_version)" = "$pinned" ]; then
  echo "== $dir: @daytonaio/sdk $pinned already installed"
  exit 0
fi

major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$major" -ge 18 ] || { echo "setup-node.sh: node $(node --version) is older than 18" >&2; exit 2; }

echo "== $dir: installing @daytonaio/sdk $pinned (found: $(installed_version || true))"
mkdir -p "$dir"
rm -f "$stamp"
cp "$manifest" "$lock" "$dir/"
# --ignore-scripts: the SDK needs no install scripts (only protobufjs has one, a version notice).
npm ci --prefix "$dir" --ignore-scripts --no-audit --no-fund --loglevel=error
have="$(installed_version)"
if [ "$have" != "$pinned" ]; then
  echo "setup-node.sh: $dir has @daytonaio/sdk '${have:-none}' after install, wanted $pinned" >&2
  exit 1
fi
echo "$want" >"$stamp"
