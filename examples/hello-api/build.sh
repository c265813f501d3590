#!/usr/bin/env bash
# Builds the static binary the Dockerfile copies (bin/hello-api). The image is FROM scratch
# because build machines here cannot pull a base image; a statically linked binary needs
# nothing else. Uses musl when that target is installed, else glibc with +crt-static.
set -euo pipefail
cd "$(dirname "$0")"
host=$(rustc -vV | sed -n 's/^host: //p')
musl=${host%-gnu}-musl
if rustup target list --installed 2>/dev/null | grep -qx "$musl"; then
  target=$musl
  cargo build --release --locked --target "$target"
else
  target=$host
  RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --locked --target "$target"
fi
mkdir -p bin
cp "${CARGO_TARGET_DIR:-target}/$target/release/hello-api" bin/hello-api
echo "built examples/hello-api/bin/hello-api ($target, static)"
