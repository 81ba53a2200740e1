#!/usr/bin/env bash
# The TFX 1.21 stack proven on Debian 13 ("trixie") in a chroot: these build
# machines are Debian 12 (glibc 2.36) and TFX 1.21's ml-metadata, tfx-bsl,
# TFDV and struct2tensor wheels need glibc 2.39, so the second stack runs in
# a Debian 13 root (glibc 2.41, Python 3.13) made by debootstrap from
# Debian's own archive.
#
#   stacks/trixie/run.sh all        chroot, packages, venv, `make run`,
#                                   `make test`; writes last_result.json
#   stacks/trixie/run.sh resolve    re-resolve requirements-tfx121.in and
#                                   freeze stacks/constraints-tfx121-py313.txt
#   stacks/trixie/run.sh pytest ARGS...   a subset of the tests, in the chroot
#   stacks/trixie/run.sh shell      a shell in the chroot (source, venv ready)
#
# Layout: the chroot is stacks/trixie/chroot/ (git-ignored, several GB, reused
# when present: each step leaves a marker and is skipped next time). The
# checkout's HEAD is *copied* into the chroot's /work/main (git archive, plus
# .git so lineage can read the commit), never bind-mounted:
# the chroot's runs, caches and egg-info stay inside it, and the checkout,
# its .venv included, is never written by the chroot. The venv is the
# chroot's /opt/venv-tfx121, outside the copy. /proc, /sys and /dev are
# bind-mounted while a command runs and unmounted when it ends.
#
# CPU-heavy steps (source builds in pip, `make run`, `make test`) hold
# /tmp/heavy.lock, the lock the machine's users share; downloads do not.
# Sourcing this file defines the functions without running anything.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CHECKOUT="$(cd "$HERE/../.." && pwd)"
ROOT="${TRIXIE_ROOT:-$HERE/chroot}"
MIRROR="${TRIXIE_MIRROR:-http://deb.debian.org/debian}"
HEAVY_LOCK="${TRIXIE_HEAVY_LOCK:-/tmp/heavy.lock}"  # another lock file: run beside a benchmark that holds the shared one
INNER_SRC=/work/main
INNER_VENV=/opt/venv-tfx121
CONSTRAINTS=stacks/constraints-tfx121-py313.txt
REQUIREMENTS=stacks/requirements-tfx121.in
RESULT="$HERE/last_result.json"
OUTPUT=runs/trixie
# Python 3.13 is trixie's python3; build tools for the sdists (pyfarmhash,
# rouge-score); chromium for the browser tests; mariadb-server for the
# ML Metadata on MariaDB test; git for lineage's commit.
PACKAGES=(python3 python3-venv python3-dev build-essential make git rsync
  ca-certificates chromium mariadb-server procps)

log() { printf '[trixie %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { printf 'stacks/trixie/run.sh: %s\n' "$*" >&2; exit 1; }

# Holds the heavy lock around one command, unless this script holds it already
# (all() takes it once for `make run` and `make test` together).
HEAVY_HELD=no
heavy() {
  if [[ $HEAVY_HELD == yes ]]; then "$@"; else flock "$HEAVY_LOCK" "$@"; fi
}

# Runs a command inside the chroot with a clean environment (the host's pip
# settings point at host-only wheel folders) and CI=true, so a test that
# skips fails there as it does in CI.
in_root() {
  chroot "$ROOT" /usr/bin/env -i HOME=/root PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin \
    LANG=C.UTF-8 TERM="${TERM:-dumb}" CI=true PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_DEFAULT_TIMEOUT=180 PIP_CERT=/etc/ssl/certs/ca-certificates.crt "$@"
}

check_host() {
  [[ $(id -u) == 0 ]] || die "needs root (debootstrap, chroot, mount): run it as root"
  command -v debootstrap >/dev/null ||
    die "debootstrap is missing: apt-get install debootstrap"
}

# debootstrap into a .partial folder, renamed when complete: an interrupted
# bootstrap is never mistaken for a finished one.
ensure_chroot() {
  if [[ -x $ROOT/usr/bin/apt-get && -e $ROOT/etc/debian_version ]]; then
    return
  fi
  log "debootstrap trixie into $ROOT (network-bound, a few minutes)"
  rm -rf "$ROOT.partial"
  debootstrap --variant=minbase trixie "$ROOT.partial" "$MIRROR"
  mv "$ROOT.partial" "$ROOT"
}

mounted=()
mount_all() {
  local target
  # The root bound onto itself first: inside, / is then a mount point, which
  # `ip netns exec` needs (it makes / a slave mount; the Beam worker-host
  # tests run through it); proc, sys and dev are mounted on top.
  if ! mountpoint -q "$ROOT"; then
    mount --bind "$ROOT" "$ROOT"
    mounted=("$ROOT")
  fi
  for fs in proc sys dev dev/pts; do
    target="$ROOT/$fs"
    mkdir -p "$target"
    if ! mountpoint -q "$target"; then
      mount --bind "/$fs" "$target"
      mounted=("$target" "${mounted[@]}")
    fi
  done
  trap umount_all EXIT
  cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"
}

umount_all() {
  local target
  # What the tests mounted inside (ip netns binds /run/netns) goes first,
  # deepest first, then ours.
  while read -r target; do
    [[ " ${mounted[*]} " == *" $target "* ]] || umount "$target" 2>/dev/null ||
      umount -l "$target"
  done < <(findmnt -rn -o TARGET | grep "^$ROOT/" | sort -r)
  for target in "${mounted[@]}"; do
    umount "$target" 2>/dev/null || umount -l "$target"
  done
  mounted=()
}

# Installs the Debian packages; services (mariadb) are kept from starting by a
# policy-rc.d, since the tests start their own servers.
ensure_packages() {
  local marker="$ROOT/.trixie-packages"
  if [[ -e $marker && "$(cat "$marker")" == "${PACKAGES[*]}" ]]; then
    return
  fi
  log "apt-get install ${PACKAGES[*]}"
  printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
  chmod +x "$ROOT/usr/sbin/policy-rc.d"
  in_root apt-get update
  in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y \
    --no-install-recommends "${PACKAGES[@]}"
  rm -f "$ROOT/usr/sbin/policy-rc.d"
  echo "${PACKAGES[*]}" >"$marker"
}

# The host's local certificate authorities (this network's TLS proxy signs
# PyPI's certificates with one) become the chroot's too; pip reads the
# resulting bundle (PIP_CERT in in_root).
ensure_host_ca() {
  local src=/usr/local/share/ca-certificates dst="$ROOT/usr/local/share/ca-certificates"
  compgen -G "$src/*.crt" >/dev/null || return 0
  mkdir -p "$dst"
  if ! diff -rq "$src" "$dst" >/dev/null 2>&1; then
    rsync -a --delete "$src/" "$dst/"
    in_root update-ca-certificates >/dev/null
  fi
}

# The copy of the checkout: the committed tree of HEAD (git archive), so the
# result names one commit even while others edit the checkout, plus .git so
# lineage reads that commit. The chroot's runs/, caches and egg-info (all
# git-ignored) survive a re-copy; files deleted from git go.
copy_source() {
  local tree
  tree="$(mktemp -d /tmp/trixie-tree.XXXXXX)"
  git -C "$CHECKOUT" archive HEAD | tar -x -C "$tree"
  mkdir -p "$ROOT$INNER_SRC"
  rsync -a --delete --filter=':- .gitignore' --exclude=/.git \
    "$tree/" "$ROOT$INNER_SRC/"
  rsync -a --delete "$CHECKOUT/.git/" "$ROOT$INNER_SRC/.git/"
  rm -rf "$tree"
  apply_pending
  log "copied HEAD $(git -C "$CHECKOUT" rev-parse --short HEAD) into the chroot's $INNER_SRC"
}

# Changes proposed for files this stack's owner does not own (the pipeline's,
# setup.py, other tests), kept as patches in stacks/trixie/pending/ until they
# are applied upstream: each is applied to the copy unless HEAD already has
# it, and the result file lists those applied (PENDING_APPLIED), so a result
# never claims HEAD alone passed when it needed them.
PENDING_APPLIED=()
apply_pending() {
  local patch name
  for patch in "$CHECKOUT"/stacks/trixie/pending/*.diff; do
    [[ -e $patch ]] || continue
    name="$(basename "$patch")"
    if git -C "$ROOT$INNER_SRC" apply --check -R "$patch" 2>/dev/null; then
      log "pending $name: already in HEAD"
    elif git -C "$ROOT$INNER_SRC" apply "$patch"; then
      PENDING_APPLIED+=("$name")
      log "pending $name: applied to the copy"
    else
      die "pending $name applies neither forwards nor backwards to HEAD: refresh it"
    fi
  done
}

# The venv from the frozen constraints: the dependencies come from the
# requirements file under the constraints (setup.py's ranges admit both
# stacks, the constraints pick this one), and the project itself is
# installed without its requirements, so nothing outside the frozen set
# can enter.
ensure_venv() {
  local stamp
  [[ -e $CHECKOUT/$CONSTRAINTS ]] ||
    die "$CONSTRAINTS is missing: run 'stacks/trixie/run.sh resolve' first"
  stamp="$(cat "$CHECKOUT/$CONSTRAINTS" "$CHECKOUT/$REQUIREMENTS" | sha256sum)"
  if [[ ! -e $ROOT$INNER_VENV/.stack-installed ||
        "$(cat "$ROOT$INNER_VENV/.stack-installed")" != "$stamp" ]]; then
    log "venv $INNER_VENV from $CONSTRAINTS (new: the pins changed)"
    rm -rf "${ROOT:?}$INNER_VENV"
    in_root python3 -m venv "$INNER_VENV"
    in_root "$INNER_VENV/bin/python" -m pip install -q --upgrade pip setuptools wheel
    pip_install "$INNER_VENV" -c "$INNER_SRC/$CONSTRAINTS" -r "$INNER_SRC/$REQUIREMENTS"
    echo "$stamp" >"$ROOT$INNER_VENV/.stack-installed"
  fi
  in_root "$INNER_VENV/bin/python" -m pip install -q --no-deps \
    --ignore-requires-python --no-build-isolation -e "$INNER_SRC"
  # The Makefile's env target is "$(VENV)/.installed newer than setup.py and
  # constraints.txt": satisfied here, so make never rebuilds it with 3.10.
  touch "$ROOT$INNER_VENV/.installed"
  ensure_airflow
}

# Airflow's own venv (make airflow-env: trixie's python3.13, under
# orchestration/airflow/constraints-py313.txt) and MLflow/DVC's (make
# mlflow-env: python3.13, stacks/mlflow-dvc/constraints.txt), made here, where
# pip reaches PyPI (PIP_CERT), so the DAG's and the MLflow/DVC tests find them
# made; wheels only, no build.
ensure_airflow() {
  in_root make -s -C "$INNER_SRC" airflow-env >/dev/null
  in_root make -s -C "$INNER_SRC" mlflow-env >/dev/null
}

prepare() {
  check_host
  ensure_chroot
  mount_all
  ensure_packages
  ensure_host_ca
  copy_source
}

# pip install ARGS into VENV in three steps, so that only compiling holds the
# heavy lock: `pip download` resolves and fetches into the chroot's
# /var/cache/trixie-wheels (network-bound); the sdists among them (pyfarmhash,
# rouge-score) are built into wheels there under the lock, once (the wheels
# stay in the cache); the install then unpacks wheels only, offline.
pip_install() {
  local venv=$1 wheels=/var/cache/trixie-wheels sdists=()
  shift
  mkdir -p "$ROOT$wheels"
  in_root "$venv/bin/python" -m pip download -q -d "$wheels" "$@"
  for sdist in "$ROOT$wheels"/*.tar.gz; do
    [[ -e $sdist ]] || continue
    local name
    name="$(basename "$sdist" .tar.gz)"
    compgen -G "$ROOT$wheels/${name%-*}-${name##*-}-*.whl" >/dev/null ||
      sdists+=("$wheels/$(basename "$sdist")")
  done
  if (( ${#sdists[@]} )); then
    log "building ${sdists[*]##*/} (heavy lock)"
    heavy chroot "$ROOT" /usr/bin/env -i HOME=/root PATH=/usr/bin:/bin \
      PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/python" -m pip wheel -q \
      --no-deps --no-build-isolation -w "$wheels" "${sdists[@]}"
  fi
  in_root "$venv/bin/python" -m pip install -q --no-index --find-links "$wheels" \
    --only-binary :all: "$@"
}

# Resolves the unpinned requirements in a throwaway venv and freezes them.
resolve() {
  prepare
  local venv=/opt/venv-resolve
  log "resolving $REQUIREMENTS with $(in_root python3 --version)"
  rm -rf "$ROOT$venv"
  in_root python3 -m venv "$venv"
  in_root "$venv/bin/python" -m pip install -q --upgrade pip setuptools wheel
  pip_install "$venv" -r "$INNER_SRC/$REQUIREMENTS"
  {
    echo "# The TFX 1.21 stack on Python $(in_root python3 -c 'import platform; print(platform.python_version())')" \
      "(Debian 13, glibc $(in_root ldd --version | head -n 1 | awk '{print $NF}')), frozen by"
    echo "# 'stacks/trixie/run.sh resolve' from stacks/requirements-tfx121.in on $(date -u +%F)."
    in_root "$venv/bin/python" -m pip freeze --exclude-editable | LC_ALL=C sort -f
  } >"$CHECKOUT/$CONSTRAINTS.tmp"
  mv "$CHECKOUT/$CONSTRAINTS.tmp" "$CHECKOUT/$CONSTRAINTS"
  rm -rf "$ROOT$venv"
  log "wrote $CONSTRAINTS"
}

run_pytest() {
  prepare
  ensure_venv
  heavy chroot "$ROOT" /usr/bin/env -i HOME=/root PATH=/usr/bin:/bin LANG=C.UTF-8 CI=true \
    sh -c "cd $INNER_SRC && exec $INNER_VENV/bin/python -m pytest -q -rfEs -p no:warnings -p tests.ci_no_skip \"\$@\"" \
    pytest "$@"
}

shell() {
  prepare
  ensure_venv
  chroot "$ROOT" /usr/bin/env -i HOME=/root PATH="$INNER_VENV/bin:/usr/bin:/bin" \
    LANG=C.UTF-8 TERM="${TERM:-dumb}" CI=true bash -c "cd $INNER_SRC && exec bash -i"
}

# Runs a step, recording its exit code and seconds in STEP_RC / STEP_SECONDS
# (never stopping the script: the result file records a failure too).
timed() {
  local start
  start=$(date +%s)
  STEP_RC=0
  "$@" || STEP_RC=$?
  STEP_SECONDS=$(( $(date +%s) - start ))
}

setup_step() { prepare && ensure_venv; }

# `make run` and `make test` in the chroot with the TFX 1.21 stack, logs in
# /tmp/trixie/, the outcome in stacks/trixie/last_result.json.
all() {
  local started commit junit=/tmp/trixie-junit.xml logs=/tmp/trixie lock_fd lock_wait=0
  local setup_rc setup_s run_rc=-1 run_s=0 test_rc=-1 test_s=0
  mkdir -p "$logs"
  started="$(date -u +%FT%TZ)"
  commit="$(git -C "$CHECKOUT" rev-parse HEAD)"
  timed setup_step
  setup_rc=$STEP_RC setup_s=$STEP_SECONDS
  if [[ $setup_rc == 0 ]]; then
    log "waiting for $HEAVY_LOCK (held for make run and make test together)"
    exec {lock_fd}>>"$HEAVY_LOCK"
    timed flock "$lock_fd"
    lock_wait=$STEP_SECONDS
    HEAVY_HELD=yes
    log "make run (OUTPUT=$OUTPUT inside the chroot), log $logs/make-run.log"
    timed heavy_make run "$logs/make-run.log"
    run_rc=$STEP_RC run_s=$STEP_SECONDS
    log "make test, log $logs/make-test.log"
    rm -f "$ROOT$junit"
    timed heavy_make test "$logs/make-test.log" PYTEST_ADDOPTS="--junitxml=$junit"
    test_rc=$STEP_RC test_s=$STEP_SECONDS
    flock -u "$lock_fd"
    HEAVY_HELD=no
  fi
  in_root "$INNER_VENV/bin/python" -m components.stack --json \
    >"$logs/stack.json" 2>/dev/null || echo '{}' >"$logs/stack.json"
  python3 "$HERE/write_result.py" --out "$RESULT" --started "$started" \
    --commit "$commit" --stack "$logs/stack.json" \
    --junit "$ROOT$junit" --step "setup=$setup_rc:$setup_s" \
    --step "make run=$run_rc:$run_s" --step "make test=$test_rc:$test_s" \
    --lock-wait "$lock_wait" ${PENDING_APPLIED[@]/#/--pending }
  [[ $setup_rc == 0 && $run_rc == 0 && $test_rc == 0 ]]
}

# make TARGET in the chroot's copy, holding the heavy lock; output to LOG too.
heavy_make() {
  local target=$1 logfile=$2
  shift 2
  heavy chroot "$ROOT" /usr/bin/env -i HOME=/root PATH=/usr/bin:/bin:/usr/sbin:/sbin \
    LANG=C.UTF-8 CI=true "$@" \
    make -C "$INNER_SRC" VENV="$INNER_VENV" PY="$INNER_VENV/bin/python" \
    OUTPUT="$OUTPUT" "$target" 2>&1 | tee "$logfile" >&2
  return "${PIPESTATUS[0]}"
}

main() {
  local command=${1:-all}
  shift || true
  case $command in
    all) all ;;
    resolve) resolve ;;
    pytest) run_pytest "$@" ;;
    shell) shell ;;
    *) die "unknown command '$command': use all, resolve, pytest ARGS... or shell" ;;
  esac
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
fi
