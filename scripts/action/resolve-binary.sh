#!/usr/bin/env bash
# Resolves the aks-backend binary for the GitHub Action (action.yml's first step), and for
# anyone who wants the same behaviour elsewhere:
#   1. the action's ref names a release in the committed manifest (dist/checksums.json), or
#      is a commit SHA whose sources are the ones the manifest's current release was built
#      from (the release records the built commit and a digest of its sources: Cargo.toml,
#      Cargo.lock, src/), and the runner's OS/arch has an asset: use the tool cache, else
#      download the asset; either way its sha256 must equal the manifest's, or we stop;
#   2. otherwise (`uses: ./`, a branch, another commit, an unreleased tag, another OS):
#      build the action's own source with `cargo build --release --locked`.
# Prints the binary's path on stdout and, on a runner, sets the step output `bin`.
#
# Environment (all optional except the action path):
#   AKS_BACKEND_ACTION_PATH      the action's directory (github.action_path)
#   AKS_BACKEND_ACTION_REF       the ref the workflow used (github.action_ref); empty for ./
#   AKS_BACKEND_ACTION_REPOSITORY owner/name (github.action_repository)
#   AKS_BACKEND_MANIFEST         checksum manifest [ACTION_PATH/dist/checksums.json]
#   AKS_BACKEND_RELEASE_BASE_URL base of release downloads [manifest's release_base_url,
#                                then GITHUB_SERVER_URL/REPOSITORY/releases/download]
#   AKS_BACKEND_BUILD_DIR        cargo target dir for source builds [RUNNER_TEMP/aks-backend-build]
#   RUNNER_TOOL_CACHE, RUNNER_OS, RUNNER_ARCH, RUNNER_TEMP, GITHUB_OUTPUT (set by the runner)
set -euo pipefail

log() { echo "aks-backend: $*" >&2; }
die() {
  echo "::error title=aks-backend::$1" >&2
  shift
  for h in "$@"; do echo "hint: $h" >&2; done
  exit 3
}

action_path=${AKS_BACKEND_ACTION_PATH:?AKS_BACKEND_ACTION_PATH must name the action directory}
ref=${AKS_BACKEND_ACTION_REF:-}
manifest=${AKS_BACKEND_MANIFEST:-$action_path/dist/checksums.json}
tmp_root=${RUNNER_TEMP:-${TMPDIR:-/tmp}}
tool_cache=${RUNNER_TOOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/aks-backend/tool-cache}

emit() {
  if [ -n "${GITHUB_OUTPUT:-}" ]; then
    echo "bin=$1" >>"$GITHUB_OUTPUT"
  fi
  echo "$1"
}

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  else
    shasum -a 256 "$1" | cut -d' ' -f1
  fi
}

# The runner's platform as a Rust target triple we publish, or empty.
target_triple() {
  local os=${RUNNER_OS:-$(uname -s)} arch=${RUNNER_ARCH:-$(uname -m)}
  case "$os" in Linux | linux) ;; *) return 0 ;; esac
  case "$arch" in
    X64 | x86_64 | amd64) echo x86_64-unknown-linux-musl ;;
    ARM64 | aarch64 | arm64) echo aarch64-unknown-linux-musl ;;
  esac
}

# Reads the manifest: prints "TAG ASSET SHA256 BASE_URL" for REF and TARGET, or nothing.
# jq when present (GitHub's images have it), else python3.
lookup() {
  local ref=$1 target=$2
  [ -f "$manifest" ] || return 0
  if command -v jq >/dev/null 2>&1; then
    jq -r --arg ref "$ref" --arg target "$target" '
      (.release_base_url // "") as $base
      | (if .releases[$ref] then $ref
         elif (.current // "") != "" and $ref != "" and (.current == $ref or (.current | startswith($ref + "."))) then .current
         else empty end) as $tag
      | .releases[$tag][$target] // empty
      | "\($tag) \(.asset) \(.sha256) \($base)"' "$manifest"
  else
    python3 - "$manifest" "$ref" "$target" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
ref, target = sys.argv[2], sys.argv[3]
rel = m.get("releases") or {}
cur = m.get("current") or ""
tag = ref if ref in rel else (cur if ref and cur and (cur == ref or cur.startswith(ref + ".")) else None)
a = (rel.get(tag) or {}).get(target) if tag else None
if a:
    print(tag, a["asset"], a["sha256"], m.get("release_base_url") or "")
PY
  fi
}

# sha256 over "SHA256  PATH" lines of Cargo.toml, Cargo.lock and src/** in byte order of
# PATH: what scripts/release/update-manifest records as the release's `source_sha256`.
source_digest() {
  (
    cd "$action_path" || exit 1
    find Cargo.toml Cargo.lock src -type f -print0 2>/dev/null | LC_ALL=C sort -z | while IFS= read -r -d '' f; do
      printf '%s  %s\n' "$(sha256_of "$f")" "$f"
    done
  ) | if command -v sha256sum >/dev/null 2>&1; then sha256sum; else shasum -a 256; fi | cut -d' ' -f1
}

# The manifest's current release and the digest of the sources it was built from:
# "TAG SOURCE_SHA256 COMMIT", or nothing.
current_source() {
  [ -f "$manifest" ] || return 0
  if command -v jq >/dev/null 2>&1; then
    jq -r '(.current // "") as $t | select($t != "") | .sources[$t] // empty
      | "\($t) \(.source_sha256) \(.commit)"' "$manifest"
  else
    python3 - "$manifest" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
t = m.get("current") or ""
s = (m.get("sources") or {}).get(t) if t else None
if s:
    print(t, s["source_sha256"], s["commit"])
PY
  fi
}

download() {
  local url=$1 out=$2
  local proto='=https'
  case "$url" in http://127.0.0.1[:/]* | http://localhost[:/]* | http://\[::1\][:/]*) proto='=http,https' ;; esac
  curl --fail --silent --show-error --location --retry 3 --retry-delay 1 \
    --connect-timeout 10 --max-time 300 --proto "$proto" --proto-redir "$proto" \
    --output "$out" "$url"
}

build_from_source() {
  local why=$1
  log "building from source ($why)"
  command -v cargo >/dev/null 2>&1 || die "cargo is not installed, and there is no release binary for this ref ($why)" \
    "use a released tag (uses: OWNER/aks-backend-action@v1), or install Rust first (dtolnay/rust-toolchain)"
  local target_dir=${AKS_BACKEND_BUILD_DIR:-$tmp_root/aks-backend-build}
  CARGO_TARGET_DIR=$target_dir cargo build --release --locked --quiet \
    --manifest-path "$action_path/Cargo.toml" >&2 || die "cargo build of the action's source failed"
  local bin=$target_dir/release/aks-backend
  [ -x "$bin" ] || bin=$target_dir/release/aks-backend.exe
  emit "$bin"
}

target=$(target_triple)
found=""
if [ -n "$ref" ] && [ -n "$target" ]; then
  found=$(lookup "$ref" "$target")
  # Pinned by commit SHA (the supply-chain practice): the release binary when these are
  # the exact sources the current release was built from.
  if [ -z "$found" ] && [[ $ref =~ ^[0-9a-f]{40}$ ]]; then
    read -r cur_tag cur_source cur_commit <<<"$(current_source)" || true
    if [ -n "${cur_tag:-}" ] && [ "$(source_digest)" = "$cur_source" ]; then
      log "commit $ref has the sources of $cur_tag (built from $cur_commit)"
      found=$(lookup "$cur_tag" "$target")
    fi
  fi
fi
if [ -z "$found" ]; then
  if [ -z "$ref" ]; then
    build_from_source "no ref: a local action (uses: ./)"
  elif [ -z "$target" ]; then
    build_from_source "no release binary for ${RUNNER_OS:-$(uname -s)}/${RUNNER_ARCH:-$(uname -m)}"
  else
    build_from_source "ref $ref is not a release in $(basename "$manifest")"
  fi
  exit 0
fi

read -r tag asset want base <<<"$found"
base=${AKS_BACKEND_RELEASE_BASE_URL:-${base:-${GITHUB_SERVER_URL:-https://github.com}/${AKS_BACKEND_ACTION_REPOSITORY:?no release base URL: set AKS_BACKEND_ACTION_REPOSITORY}/releases/download}}
dir=$tool_cache/aks-backend/${tag#v}/${target%%-*}
bin=$dir/aks-backend

if [ -f "$dir.complete" ] && [ -x "$bin" ]; then
  got=$(sha256_of "$bin")
  if [ "$got" = "$want" ]; then
    log "using $tag from the tool cache"
    emit "$bin"
    exit 0
  fi
  log "the tool cache copy of $tag does not match the manifest (sha256 $got); downloading again"
  rm -f "$dir.complete"
fi

mkdir -p "$dir"
part=$(mktemp "$dir/.download.XXXXXX")
trap 'rm -f "$part"' EXIT
url=${base%/}/$tag/$asset
log "downloading $url"
download "$url" "$part" || die "cannot download $url" "check that release $tag has the asset $asset"
got=$(sha256_of "$part")
if [ "$got" != "$want" ]; then
  die "checksum mismatch for $asset of $tag: got $got, the manifest says $want; refusing to run it" \
    "the download was altered or the release assets were replaced; the manifest committed at $tag is the reference"
fi
chmod 0755 "$part"
mv -f "$part" "$bin"
trap - EXIT
touch "$dir.complete"
log "installed $tag into the tool cache"
emit "$bin"
