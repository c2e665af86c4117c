#!/usr/bin/env bash
# Idempotent installer/verifier for the system packages and tools the
# project's tests need (Debian 12 "bookworm").
#
# - Calls apt-get only when a package is missing (runs `apt-get update` at most
#   once, and only then).
# - Never starts daemons: a temporary /usr/sbin/policy-rc.d (exit 101) is put in
#   place during the install if none exists.
# - Afterwards verifies that every command the tests use exists and runs, and
#   fails with a message naming whatever is missing.
#
# To extend: add Debian package names to REQUIRED_PACKAGES and a
# "command args..." smoke-test line to REQUIRED_COMMANDS.
set -euo pipefail

# Debian 12 package names. NEVER add `kubernetes-client`: it conflicts with the
# preinstalled `kubectl` package (google-cloud-sdk).
REQUIRED_PACKAGES=(
  containerd
  runc
  containernetworking-plugins
  etcd-server
  etcd-client
  nftables
  iptables
  ipvsadm
  ipset
  iproute2
  busybox-static
  conntrack
  curl
)

# Each entry: a command (name on PATH or absolute path) followed by the
# arguments of a cheap invocation that must exit 0.
REQUIRED_COMMANDS=(
  "containerd --version"
  "ctr --version"
  "runc --version"
  "etcd --version"
  "etcdctl version"
  "nft --version"
  "iptables --version"
  "iptables-restore --version"
  "ipvsadm --version"
  "ipset --version"
  "ip -V"
  "conntrack --version"
  "curl --version"
  "busybox true"
  "/usr/lib/cni/bridge"
  "/usr/lib/cni/host-local"
  "/usr/lib/cni/loopback"
)

# Commands whose smoke test talks to a kernel feature that may be absent on the
# host (e.g. ipvsadm needs the ip_vs module for *every* invocation). If the
# smoke test fails but its output matches this pattern, the binary itself did
# run (it is installed and loads), so it counts as present; a warning names the
# missing kernel feature.
declare -A KERNEL_FEATURE_ERRORS=(
  [ipvsadm]="Can't initialize ipvs"
)

# Real kubectl binaries (shipped with the preinstalled google-cloud-sdk).
KUBECTL_DIR=/usr/lib/google-cloud-sdk/bin
KUBECTL_VERSIONS=(1.27 1.28 1.29 1.30 1.31 1.32 1.33)

# Rust toolchain commands (from rustup) and the rustup components providing
# the optional ones.
REQUIRED_RUST_COMMANDS=(cargo rustc cargo-fmt rustfmt cargo-clippy)
RUSTUP_COMPONENTS=(rustfmt clippy)

log() { echo "install-deps: $*"; }
die() { echo "install-deps: ERROR: $*" >&2; exit 1; }

START=$SECONDS

# --- phase 1: find missing packages -----------------------------------------
is_installed() {
  [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

missing=()
for pkg in "${REQUIRED_PACKAGES[@]}"; do
  is_installed "$pkg" || missing+=("$pkg")
done

# --- phase 2: install missing packages ----------------------------------------
if ((${#missing[@]} == 0)); then
  log "packages: all ${#REQUIRED_PACKAGES[@]} already installed, apt-get not needed"
else
  log "packages: installing ${#missing[@]} missing: ${missing[*]}"
  ((EUID == 0)) || die "must run as root to install: ${missing[*]}"

  # Do not let maintainer scripts start daemons (containerd, etcd).
  POLICY_RC=/usr/sbin/policy-rc.d
  created_policy=0
  cleanup_policy() {
    if ((created_policy)); then rm -f "$POLICY_RC"; fi
  }
  trap cleanup_policy EXIT
  if [[ ! -e "$POLICY_RC" ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$POLICY_RC"
    chmod 0755 "$POLICY_RC"
    created_policy=1
  fi

  # Wait up to 10 minutes for a concurrent apt/dpkg to release its locks.
  APT_OPTS=(-o DPkg::Lock::Timeout=600 -q)
  export DEBIAN_FRONTEND=noninteractive

  attempt=0
  until apt-get "${APT_OPTS[@]}" update; do
    attempt=$((attempt + 1))
    ((attempt < 5)) || die "apt-get update failed"
    log "apt-get update failed (attempt $attempt), retrying in 15s"
    sleep 15
  done

  apt-get "${APT_OPTS[@]}" install -y --no-install-recommends "${missing[@]}" \
    || die "apt-get install failed for: ${missing[*]}"

  for pkg in "${missing[@]}"; do
    is_installed "$pkg" || die "package $pkg is still not installed after apt-get install"
  done

  cleanup_policy
  trap - EXIT
  log "packages: installed ${missing[*]}"
fi

# --- phase 3: verify system commands ----------------------------------------
resolve_cmd() {
  local name=$1
  if [[ "$name" == /* ]]; then
    [[ -x "$name" ]] && { echo "$name"; return 0; }
    return 1
  fi
  if command -v "$name" >/dev/null 2>&1; then
    command -v "$name"
    return 0
  fi
  # Some tools live in sbin dirs that may not be on a non-login PATH.
  local d
  for d in /usr/local/sbin /usr/sbin /sbin /bin /usr/bin; do
    [[ -x "$d/$name" ]] && { echo "$d/$name"; return 0; }
  done
  return 1
}

failed=()
for entry in "${REQUIRED_COMMANDS[@]}"; do
  read -r -a words <<<"$entry"
  name=${words[0]}
  if ! path=$(resolve_cmd "$name"); then
    failed+=("$name (not found)")
    continue
  fi
  if [[ "$name" == /usr/lib/cni/* ]]; then
    # CNI plugins report their supported spec versions for CNI_COMMAND=VERSION.
    if ! CNI_COMMAND=VERSION "$path" </dev/null >/dev/null 2>&1; then
      failed+=("$name (CNI_COMMAND=VERSION failed)")
    fi
  elif ! out=$("$path" "${words[@]:1}" </dev/null 2>&1); then
    pattern=${KERNEL_FEATURE_ERRORS[$name]:-}
    if [[ -n "$pattern" ]] && grep -qF "$pattern" <<<"$out"; then
      log "WARNING: $name is installed and runs, but the kernel lacks the feature it needs: $(head -n1 <<<"$out")"
    else
      failed+=("$name (\`$entry\` failed: $(head -n1 <<<"$out"))")
    fi
  fi
done
((${#failed[@]} == 0)) || die "missing or broken commands: ${failed[*]}"
log "commands: all ${#REQUIRED_COMMANDS[@]} system commands present and runnable"

# --- phase 4: verify kubectl binaries ---------------------------------------
for v in "${KUBECTL_VERSIONS[@]}"; do
  bin="$KUBECTL_DIR/kubectl.$v"
  if [[ ! -x "$bin" ]]; then
    failed+=("$bin (not found)")
    continue
  fi
  if ! out=$("$bin" version --client -o json </dev/null 2>/dev/null) \
    || ! grep -Eq "\"gitVersion\": *\"v${v//./\\.}\." <<<"$out"; then
    failed+=("$bin (\`version --client\` failed or did not report v$v)")
  fi
done
((${#failed[@]} == 0)) || die "kubectl binaries missing or broken (expected the google-cloud-sdk kubectl.X.Y binaries; do NOT install kubernetes-client): ${failed[*]}"
log "kubectl: ${KUBECTL_VERSIONS[*]} present in $KUBECTL_DIR"

# --- phase 5: verify the Rust toolchain -------------------------------------
if ! command -v cargo >/dev/null 2>&1 && [[ -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo" ]]; then
  export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
fi
rust_missing() {
  local c out=()
  for c in "${REQUIRED_RUST_COMMANDS[@]}"; do
    "$c" --version </dev/null >/dev/null 2>&1 || out+=("$c")
  done
  echo "${out[*]}"
}
rmiss=$(rust_missing)
if [[ -n "$rmiss" ]]; then
  case " $rmiss " in
    *" cargo "* | *" rustc "*) die "Rust toolchain missing or broken: $rmiss (install it with rustup)" ;;
  esac
  command -v rustup >/dev/null 2>&1 || die "missing: $rmiss, and rustup is not available to add ${RUSTUP_COMPONENTS[*]}"
  log "rust: missing $rmiss, running rustup component add ${RUSTUP_COMPONENTS[*]}"
  rustup component add "${RUSTUP_COMPONENTS[@]}" || die "rustup component add ${RUSTUP_COMPONENTS[*]} failed"
  rmiss=$(rust_missing)
  [[ -z "$rmiss" ]] || die "Rust tools still missing after rustup component add: $rmiss"
fi
log "rust: $(rustc --version), $(cargo --version | cut -d' ' -f1-2), rustfmt and clippy present"

log "done in $((SECONDS - START))s"
