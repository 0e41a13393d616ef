#!/usr/bin/env bash
# Takes a blank Debian or Ubuntu server with KVM to a running Ignition daemon, from a checkout of
# this repository (the directory above this script):
#
#   1. checks the OS, root, and /dev/kvm (and says how to enable nested virtualisation if absent)
#   2. installs the Debian packages (build tools for the vsock addon and init, e2fsprogs, network)
#   3. installs the pinned Node (official tarball, checksum-verified) unless it is already there
#   4. npm ci and npm run build (dist/ignition.mjs, dist/agent.mjs)
#   5. scripts/fetch-assets.sh: Firecracker and a guest kernel
#   6. scripts/image/build.ts: the base image (ext4, built without root)
#   7. a systemd unit for `ignition daemon`, enabled and started; waits for /healthz
#
# Every step is idempotent: running the script again repairs or upgrades in place.
# --dry-run prints the commands instead of running them (and skips the root check).
set -euo pipefail

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA_DIR="${IGNITION_DATA_DIR:-/var/lib/ignition}"
ASSETS_DIR="${IGNITION_ASSETS:-}"
NODE_VERSION="${IGNITION_NODE_VERSION:-20.20.2}"
LISTEN="${IGNITION_LISTEN:-127.0.0.1:7777}"
IMAGE_SIZE_MIB=256
DRY_RUN=0
ALLOW_NO_KVM=0
SKIP_ASSETS=0
SKIP_IMAGE=0
SKIP_SERVICE=0
FETCH_ARGS=()

usage() {
  cat <<USAGE
usage: scripts/install.sh [options]
  --data-dir DIR         daemon data directory (default $DATA_DIR)
  --assets-dir DIR       Firecracker and kernel (default <data-dir>/assets)
  --node-version X.Y.Z   Node to install when the host has no Node 20 (default $NODE_VERSION)
  --listen HOST:PORT     daemon address (default $LISTEN)
  --image-size-mib N     base image size (default $IMAGE_SIZE_MIB)
  --no-kvm               install anyway without /dev/kvm (the daemon uses the process driver)
  --skip-assets | --skip-image | --skip-service
  --fetch-arg ARG        pass ARG to scripts/fetch-assets.sh (repeatable)
  --dry-run              print the commands, change nothing
  -h, --help
USAGE
}

log() { echo "install: $*" >&2; }
die() { echo "install: $*" >&2; exit 1; }
need_value() {
  if [ $# -lt 2 ] || [ -z "$2" ]; then echo "install: $1 needs a value" >&2; usage >&2; exit 2; fi
}

while [ $# -gt 0 ]; do
  case "$1" in
    --data-dir) need_value "$@"; DATA_DIR="$2"; shift 2 ;;
    --assets-dir) need_value "$@"; ASSETS_DIR="$2"; shift 2 ;;
    --node-version) need_value "$@"; NODE_VERSION="$2"; shift 2 ;;
    --listen) need_value "$@"; LISTEN="$2"; shift 2 ;;
    --image-size-mib) need_value "$@"; IMAGE_SIZE_MIB="$2"; shift 2 ;;
    --no-kvm) ALLOW_NO_KVM=1; shift ;;
    --skip-assets) SKIP_ASSETS=1; shift ;;
    --skip-image) SKIP_IMAGE=1; shift ;;
    --skip-service) SKIP_SERVICE=1; shift ;;
    --fetch-arg) need_value "$@"; FETCH_ARGS+=("$2"); shift 2 ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done
[ -n "$ASSETS_DIR" ] || ASSETS_DIR="$DATA_DIR/assets"
[[ "$NODE_VERSION" =~ ^20\.[0-9]+\.[0-9]+$ ]] || die "--node-version must be a Node 20 release (the guest agent pins Node 20), got $NODE_VERSION"
[[ "$IMAGE_SIZE_MIB" =~ ^[0-9]+$ ]] || die "--image-size-mib must be a number"

# run CMD...: runs it, or prints it under --dry-run.
run() {
  if [ "$DRY_RUN" = 1 ]; then printf '+'; printf ' %q' "$@"; printf '\n'; else "$@"; fi
}

check_os() {
  [ -r /etc/os-release ] || die "cannot read /etc/os-release; this script supports Debian and Ubuntu"
  # shellcheck disable=SC1091
  . /etc/os-release
  case "${ID:-} ${ID_LIKE:-}" in
    *debian*|*ubuntu*) log "OS: ${PRETTY_NAME:-$ID}" ;;
    *) die "unsupported OS ${PRETTY_NAME:-unknown}: this script needs apt (Debian or Ubuntu); follow docs/GETTING-STARTED.md by hand" ;;
  esac
  if [ "$DRY_RUN" = 0 ] && [ "$(id -u)" != 0 ]; then die "run as root (sudo scripts/install.sh)"; fi
}

explain_nested() {
  local vendor="intel"
  if grep -q svm /proc/cpuinfo 2>/dev/null; then vendor="amd"; fi
  cat >&2 <<HELP
install: /dev/kvm is not usable on this machine, so Firecracker cannot run here.
  - On bare metal: enable VT-x/AMD-V in the firmware, then: modprobe kvm_$vendor
  - In a VM on your own KVM host: on the HOST run
        echo "options kvm_$vendor nested=1" > /etc/modprobe.d/kvm-nested.conf
        modprobe -r kvm_$vendor && modprobe kvm_$vendor
    and give this guest the host CPU model (libvirt: <cpu mode='host-passthrough'/>)
  - In a cloud: use an instance type with nested virtualisation or bare metal
    (GCP: --enable-nested-virtualization; Azure: Dv3/Ev3 or newer sizes; AWS: *.metal, or the
    instance families that support nested virtualisation)
  - Or rerun with --no-kvm: the daemon then runs functions with the process driver (no microVMs).
HELP
}

check_kvm() {
  if [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
    log "KVM: /dev/kvm is usable"
    return 0
  fi
  explain_nested
  if [ "$ALLOW_NO_KVM" = 1 ]; then
    log "continuing without KVM (--no-kvm): skipping Firecracker assets"
    SKIP_ASSETS=1
    return 0
  fi
  exit 1
}

install_packages() {
  run env DEBIAN_FRONTEND=noninteractive apt-get update -q
  run env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    ca-certificates curl xz-utils tar git \
    gcc libc6-dev make python3 \
    e2fsprogs util-linux iproute2 nftables bubblewrap
}

install_node() {
  if command -v node >/dev/null && [ "$(node -p 'process.versions.node.split(".")[0]')" = 20 ]; then
    log "Node $(node --version) is installed"
    return 0
  fi
  local arch
  case "$(uname -m)" in x86_64) arch=x64 ;; aarch64) arch=arm64 ;; *) die "no Node build for $(uname -m)" ;; esac
  local name="node-v$NODE_VERSION-linux-$arch"
  local base="https://nodejs.org/dist/v$NODE_VERSION"
  log "installing Node $NODE_VERSION into /usr/local"
  if [ "$DRY_RUN" = 1 ]; then
    run curl -fsSLO "$base/$name.tar.xz"
    run tar -xJf "$name.tar.xz" -C /usr/local --strip-components=1
    return 0
  fi
  local tmp
  tmp="$(mktemp -d)"
  curl -fsSL -o "$tmp/$name.tar.xz" "$base/$name.tar.xz"
  curl -fsSL -o "$tmp/SHASUMS256.txt" "$base/SHASUMS256.txt"
  (cd "$tmp" && grep " $name.tar.xz\$" SHASUMS256.txt | sha256sum -c -) || die "checksum mismatch for $name.tar.xz"
  tar -xJf "$tmp/$name.tar.xz" -C /usr/local --strip-components=1 --no-same-owner
  rm -rf "$tmp"
}

build_project() {
  run npm --prefix "$SRC" ci --no-audit --no-fund
  run npm --prefix "$SRC" run build
}

fetch_assets() {
  if [ "$SKIP_ASSETS" = 1 ]; then log "skipping assets"; return 0; fi
  local args=(--assets-dir "$ASSETS_DIR")
  if [ "${#FETCH_ARGS[@]}" -gt 0 ]; then args+=("${FETCH_ARGS[@]}"); fi
  if [ "$DRY_RUN" = 1 ]; then args+=(--dry-run); fi
  "$SRC/scripts/fetch-assets.sh" "${args[@]}"
}

build_image() {
  if [ "$SKIP_IMAGE" = 1 ]; then log "skipping the base image"; return 0; fi
  run mkdir -p "$DATA_DIR/images"
  # From the checkout: --import tsx resolves tsx from ./node_modules.
  run node --import tsx scripts/image/build.ts --agent dist/agent.mjs \
    --out "$DATA_DIR/images/base.ext4" --size-mib "$IMAGE_SIZE_MIB" --work-dir "$DATA_DIR/tmp"
}

unit_file() {
  local driver=firecracker
  if [ "$SKIP_ASSETS" = 1 ] && [ ! -e "$ASSETS_DIR/firecracker" ]; then driver=process; fi
  cat <<UNIT
[Unit]
Description=Ignition serverless daemon
Documentation=file://$SRC/docs/GETTING-STARTED.md
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
WorkingDirectory=$SRC
Environment=IGNITION_DATA_DIR=$DATA_DIR
Environment=IGNITION_LISTEN=$LISTEN
Environment=IGNITION_DRIVER=$driver
Environment=IGNITION_FIRECRACKER_BIN=$ASSETS_DIR/firecracker
Environment=IGNITION_KERNEL=$ASSETS_DIR/vmlinux
Environment=IGNITION_ROOTFS=$DATA_DIR/images/base.ext4
ExecStart=$(command -v node || echo /usr/local/bin/node) $SRC/dist/ignition.mjs daemon
Restart=on-failure
RestartSec=2
KillMode=mixed
TimeoutStopSec=30
LimitNOFILE=1048576

[Install]
WantedBy=multi-user.target
UNIT
}

install_service() {
  if [ "$SKIP_SERVICE" = 1 ]; then log "skipping the systemd unit"; return 0; fi
  local unit=/etc/systemd/system/ignition.service
  if [ "$DRY_RUN" = 1 ]; then
    echo "+ write $unit:"
    unit_file
  else
    unit_file > "$unit.tmp" && mv -f "$unit.tmp" "$unit"
  fi
  run systemctl daemon-reload
  run systemctl enable --now ignition.service
  run systemctl restart ignition.service
  if [ "$DRY_RUN" = 1 ]; then return 0; fi
  log "waiting for http://$LISTEN/healthz"
  for _ in $(seq 1 60); do
    if curl -fsS "http://$LISTEN/healthz" >/dev/null 2>&1; then
      log "the daemon is up: http://$LISTEN (try: node $SRC/dist/ignition.mjs doctor)"
      return 0
    fi
    sleep 1
  done
  die "the daemon did not answer /healthz within 60 s: journalctl -u ignition.service -n 50"
}

cd "$SRC"
check_os
check_kvm
install_packages
install_node
build_project
fetch_assets
build_image
install_service
