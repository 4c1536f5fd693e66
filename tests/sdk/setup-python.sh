#!/usr/bin/env bash
# Creates the Python virtualenvs the SDK conformance suite runs in: one per pinned version of the
# official `daytona` package. spec_check.py validates responses against the generated clients that
# package pins and installs with it (daytona-api-client and daytona-toolbox-api-client, same version),
# so each venv must also import those at that version. Usage: setup-python.sh <cache dir>.
# Idempotent: a venv that already has the pinned versions is left alone, so a warm run only costs
# two interpreter starts per venv.
set -euo pipefail

if [ "$#" -ne 1 ] || [ -z "$1" ]; then
  echo "usage: $0 <cache dir>   (e.g. /var/cache/sandbar-ci)" >&2
  exit 2
fi
cache="$1"
python="${SANDBAR_PYTHON:-python3}"
versions=(0.190.0 0.226.1)

command -v "$python" >/dev/null || { echo "setup-python.sh: $python is not installed" >&2; exit 2; }
"$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)' \
  || { echo "setup-python.sh: $python is older than 3.9" >&2; exit 2; }
mkdir -p "$cache"

# Prints the installed daytona version of a venv when its generated clients (spec_check.py's source of
# truth) import at that same version; "daytona X, <client> Y" when they differ; nothing when the venv
# is unusable.
installed_version() {
  local venv="$1"
  [ -x "$venv/bin/python" ] || return 0
  "$venv/bin/python" - <<'PY' 2>/dev/null || true
import importlib
import importlib.metadata as m
version = m.version("daytona")
for dist, module in (("daytona-api-client", "daytona_api_client"),
                     ("daytona-toolbox-api-client", "daytona_toolbox_api_client")):
    importlib.import_module(module)
    if m.version(dist) != version:
        version = f"daytona {version}, {dist} {m.version(dist)}"
        break
print(version)
PY
}

for version in "${versions[@]}"; do
  venv="$cache/venv-daytona-$version"
  have="$(installed_version "$venv")"
  if [ "$have" = "$version" ]; then
    echo "== $venv: daytona $version already installed"
    continue
  fi
  echo "== $venv: installing daytona==$version (found: ${have:-nothing})"
  # A venv whose interpreter is gone (python upgraded, half-written) is rebuilt from scratch.
  if [ -e "$venv" ] && ! "$venv/bin/python" -c '' 2>/dev/null; then
    rm -rf "$venv"
  fi
  [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "daytona==$version" \
    "daytona-api-client==$version" "daytona-toolbox-api-client==$version"
  have="$(installed_version "$venv")"
  if [ "$have" != "$version" ]; then
    echo "setup-python.sh: $venv has '${have:-no daytona or no generated clients}' after install, wanted daytona," \
      "daytona-api-client and daytona-toolbox-api-client $version" >&2
    exit 1
  fi
done
