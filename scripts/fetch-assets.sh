#!/usr/bin/env bash
# Downloads what a KVM host needs to run microVMs: a Firecracker release binary and a guest kernel
# from Firecracker's CI bucket; verifies checksums; installs them under an assets directory
# (default /var/lib/ignition/assets) as versioned files behind stable symlinks:
#
#   <assets>/firecracker -> firecracker-<version>/firecracker   (+ jailer)
#   <assets>/vmlinux     -> kernels/vmlinux-<X.Y.Z>              (+ vmlinux-<X.Y.Z>.sha256)
#
# Idempotent: a run with the same versions re-verifies what is installed and downloads nothing.
# Every download lands in a temp file and is renamed only after its checksum matched.
#
# The Firecracker tarball is checked against the release's own .sha256.txt. The CI bucket
# publishes no checksums for kernels: pass --kernel-sha256 to pin one; without it the first
# download's digest is recorded and later runs verify against that (trust on first use).
set -euo pipefail

FC_VERSION="${IGNITION_FIRECRACKER_VERSION:-v1.16.1}"
KERNEL_SERIES="${IGNITION_KERNEL_SERIES:-6.1}"
ASSETS_DIR="${IGNITION_ASSETS:-/var/lib/ignition/assets}"
ARCH="$(uname -m)"
FC_BASE_URL="https://github.com/firecracker-microvm/firecracker/releases/download"
CI_BUCKET="https://s3.amazonaws.com/spec.ccfc.min"
KERNEL_URL=""
KERNEL_SHA256=""
DRY_RUN=0
FORCE=0
SKIP_FC=0
SKIP_KERNEL=0

usage() {
  cat <<USAGE
usage: scripts/fetch-assets.sh [options]
  --assets-dir DIR          install here (default \$IGNITION_ASSETS or /var/lib/ignition/assets)
  --firecracker-version V   release tag, e.g. v1.16.1 (default $FC_VERSION)
  --kernel-series X.Y       newest CI kernel of this series (default $KERNEL_SERIES)
  --kernel-url URL          take the kernel from URL instead of the CI bucket listing
  --kernel-sha256 HEX       expected sha256 of the kernel (recommended with --kernel-url)
  --arch ARCH               x86_64 or aarch64 (default: uname -m)
  --firecracker-base-url U  release download base (default $FC_BASE_URL)
  --ci-bucket URL           Firecracker CI bucket (default $CI_BUCKET)
  --skip-firecracker | --skip-kernel
  --force                   download again even when installed and verified
  --dry-run                 print what would be downloaded and installed; change nothing
  -h, --help
USAGE
}

die() { echo "fetch-assets: $*" >&2; exit 1; }
log() { echo "fetch-assets: $*" >&2; }

need_value() {
  if [ $# -lt 2 ] || [ -z "$2" ]; then echo "fetch-assets: $1 needs a value" >&2; usage >&2; exit 2; fi
}

while [ $# -gt 0 ]; do
  case "$1" in
    --assets-dir) need_value "$@"; ASSETS_DIR="$2"; shift 2 ;;
    --firecracker-version) need_value "$@"; FC_VERSION="$2"; shift 2 ;;
    --kernel-series) need_value "$@"; KERNEL_SERIES="$2"; shift 2 ;;
    --kernel-url) need_value "$@"; KERNEL_URL="$2"; shift 2 ;;
    --kernel-sha256) need_value "$@"; KERNEL_SHA256="$2"; shift 2 ;;
    --arch) need_value "$@"; ARCH="$2"; shift 2 ;;
    --firecracker-base-url) need_value "$@"; FC_BASE_URL="$2"; shift 2 ;;
    --ci-bucket) need_value "$@"; CI_BUCKET="$2"; shift 2 ;;
    --skip-firecracker) SKIP_FC=1; shift ;;
    --skip-kernel) SKIP_KERNEL=1; shift ;;
    --force) FORCE=1; shift ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "fetch-assets: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done

case "$ARCH" in x86_64|aarch64) ;; *) die "unsupported architecture $ARCH (x86_64 or aarch64)" ;; esac
[[ "$FC_VERSION" =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "--firecracker-version must look like v1.16.1, got $FC_VERSION"
[[ "$KERNEL_SERIES" =~ ^[0-9]+\.[0-9]+$ ]] || die "--kernel-series must look like 6.1, got $KERNEL_SERIES"
[ -z "$KERNEL_SHA256" ] || [[ "$KERNEL_SHA256" =~ ^[0-9a-f]{64}$ ]] || die "--kernel-sha256 must be 64 lowercase hex digits"

if [ "$DRY_RUN" = 0 ]; then
  command -v curl >/dev/null || die "needs curl: apt-get install -y curl"
  command -v sha256sum >/dev/null || die "needs sha256sum: apt-get install -y coreutils"
  command -v tar >/dev/null || die "needs tar: apt-get install -y tar"
fi

TMP=""
cleanup() { if [ -n "$TMP" ]; then rm -rf "$TMP"; fi; }
trap cleanup EXIT

fetch() { # fetch URL FILE
  curl --fail --silent --show-error --location --retry 3 --output "$2" "$1" || die "download failed: $1"
}

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

install_firecracker() {
  local name="firecracker-${FC_VERSION}-${ARCH}"
  local dir="$ASSETS_DIR/firecracker-${FC_VERSION}"
  local url="$FC_BASE_URL/$FC_VERSION/$name.tgz"
  if [ "$DRY_RUN" = 1 ]; then
    echo "would download $url (+ .sha256.txt) and install $dir/firecracker, $dir/jailer, $ASSETS_DIR/firecracker"
    return
  fi
  if [ "$FORCE" = 0 ] && [ -f "$dir/firecracker" ] && [ -f "$dir/firecracker.sha256" ] &&
     [ "$(sha_of "$dir/firecracker")" = "$(cat "$dir/firecracker.sha256")" ]; then
    log "firecracker $FC_VERSION already installed and verified"
  else
    log "downloading $url"
    fetch "$url" "$TMP/$name.tgz"
    fetch "$url.sha256.txt" "$TMP/$name.tgz.sha256.txt"
    local want
    want="$(cut -d' ' -f1 < "$TMP/$name.tgz.sha256.txt")"
    [ "$(sha_of "$TMP/$name.tgz")" = "$want" ] || die "checksum mismatch for $name.tgz (expected $want)"
    tar -xzf "$TMP/$name.tgz" -C "$TMP"
    local rel="$TMP/release-${FC_VERSION}-${ARCH}"
    [ -f "$rel/$name" ] || die "$name.tgz has no release-${FC_VERSION}-${ARCH}/$name"
    mkdir -p "$dir"
    install -m 0755 "$rel/$name" "$dir/firecracker.partial"
    if [ -f "$rel/jailer-${FC_VERSION}-${ARCH}" ]; then install -m 0755 "$rel/jailer-${FC_VERSION}-${ARCH}" "$dir/jailer"; fi
    sha_of "$dir/firecracker.partial" > "$dir/firecracker.sha256"
    mv -f "$dir/firecracker.partial" "$dir/firecracker"
    log "installed $dir/firecracker"
  fi
  ln -sfn "firecracker-${FC_VERSION}/firecracker" "$ASSETS_DIR/firecracker"
  if [ -f "$dir/jailer" ]; then ln -sfn "firecracker-${FC_VERSION}/jailer" "$ASSETS_DIR/jailer"; fi
}

# Prints the newest firecracker-ci/<date>-…/ prefix of the bucket listing on stdin.
newest_ci_prefix() { grep -o '<Prefix>firecracker-ci/[0-9]\{8\}[^<]*/</Prefix>' | sed 's/<[^>]*>//g' | sort | tail -n 1; }
# Prints the newest vmlinux-X.Y.Z key of the listing on stdin.
newest_kernel_key() { grep -o '<Key>[^<]*/vmlinux-[0-9]*\.[0-9]*\.[0-9]*</Key>' | sed 's/<[^>]*>//g' | sort -V | tail -n 1; }

install_kernel() {
  local url="$KERNEL_URL"
  if [ -z "$url" ]; then
    local listing="$CI_BUCKET?list-type=2&prefix=firecracker-ci/&delimiter=/"
    if [ "$DRY_RUN" = 1 ]; then
      echo "would list $listing, pick the newest firecracker-ci/<date>/ prefix, then the newest $ARCH/vmlinux-$KERNEL_SERIES.* in it"
      echo "would install $ASSETS_DIR/kernels/vmlinux-<version> and $ASSETS_DIR/vmlinux"
      return
    fi
    local prefix key
    prefix="$(curl --fail --silent --show-error "$listing" | newest_ci_prefix)" || die "cannot list $CI_BUCKET"
    [ -n "$prefix" ] || die "no firecracker-ci/<date>/ prefix in the listing of $CI_BUCKET"
    key="$(curl --fail --silent --show-error "$CI_BUCKET?list-type=2&prefix=${prefix}${ARCH}/vmlinux-${KERNEL_SERIES}." | newest_kernel_key)" ||
      die "cannot list kernels under $prefix"
    [ -n "$key" ] || die "no vmlinux-$KERNEL_SERIES.* under $CI_BUCKET/$prefix$ARCH/"
    url="$CI_BUCKET/$key"
  fi
  local file
  file="$(basename "$url")"
  case "$file" in vmlinux*) ;; *) file="vmlinux-$file" ;; esac
  local dest="$ASSETS_DIR/kernels/$file"
  if [ "$DRY_RUN" = 1 ]; then
    echo "would download $url and install $dest, $ASSETS_DIR/vmlinux"
    return
  fi
  local want="$KERNEL_SHA256"
  if [ -z "$want" ] && [ -f "$dest.sha256" ]; then want="$(cat "$dest.sha256")"; fi
  if [ "$FORCE" = 0 ] && [ -f "$dest" ] && [ -n "$want" ] && [ "$(sha_of "$dest")" = "$want" ]; then
    log "kernel $file already installed and verified"
  else
    log "downloading $url"
    fetch "$url" "$TMP/$file"
    local got
    got="$(sha_of "$TMP/$file")"
    if [ -n "$want" ] && [ "$got" != "$want" ]; then die "checksum mismatch for $file: expected $want, got $got"; fi
    if [ -z "$want" ]; then log "no published checksum for $file; recording $got (pass --kernel-sha256 to pin)"; fi
    mkdir -p "$ASSETS_DIR/kernels"
    install -m 0644 "$TMP/$file" "$dest.partial"
    echo "$got" > "$dest.sha256"
    mv -f "$dest.partial" "$dest"
    log "installed $dest"
  fi
  ln -sfn "kernels/$file" "$ASSETS_DIR/vmlinux"
}

if [ "$DRY_RUN" = 0 ]; then
  mkdir -p "$ASSETS_DIR"
  TMP="$(mktemp -d "$ASSETS_DIR/.fetch.XXXXXX")"
fi
if [ "$SKIP_FC" = 0 ]; then install_firecracker; fi
if [ "$SKIP_KERNEL" = 0 ]; then install_kernel; fi
if [ "$DRY_RUN" = 0 ]; then log "assets ready in $ASSETS_DIR"; fi
