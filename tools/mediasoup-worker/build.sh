#!/usr/bin/env bash
# Builds mediasoup-worker for the installed `mediasoup` package with no download:
# the worker's C++ sources come from the npm package itself
# (node_modules/mediasoup/worker), every third-party library from Debian
# packages. Output (cached outside node_modules, so `npm ci` does not cost
# another build):  $MEDIASOUP_WORKER_CACHE_DIR/<version>/mediasoup-worker
# plus a `mediasoup-worker.ok` marker written only after the binary passed its
# self-check. A cached binary with its marker means: nothing to do.
#
# Env: MEDIASOUP_WORKER_CACHE_DIR (default <project>/.mediasoup-worker),
#      MEDIASOUP_WORKER_BUILD_DIR (default <project>/.mediasoup-build),
#      MEDIASOUP_WORKER_BUILD_JOBS (ninja -j; default: ninja's choice),
#      MEDIASOUP_WORKER_SRTP: openssl (default: libsrtp2 built from Debian's
#        source package with its OpenSSL backend, linked statically) or system
#        (Debian's libsrtp2 shared library, built against NSS: ~5x slower SRTP).
# Needs root (or the packages below already installed) for apt-get.
set -euo pipefail
# The whole script is one { } block: bash parses it before running, so editing
# this file while a build runs cannot change what the running build executes.
{

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
project="$(cd "$here/../.." && pwd)"
mediasoup_dir="$project/node_modules/mediasoup"
[ -f "$mediasoup_dir/package.json" ] || { echo "build.sh: $mediasoup_dir not installed (run npm ci first)" >&2; exit 1; }
version="$(node -p "require('$mediasoup_dir/package.json').version")"

cache_dir="${MEDIASOUP_WORKER_CACHE_DIR:-$project/.mediasoup-worker}/$version"
out_bin="$cache_dir/mediasoup-worker"
build_root="${MEDIASOUP_WORKER_BUILD_DIR:-$project/.mediasoup-build}/$version"

log() { echo "[mediasoup-worker build] $*" >&2; }

# mediasoup checks a worker binary this way: run with an empty environment, it
# must exit 41 ("MEDIASOUP_VERSION missing"); anything else means it cannot run here.
worker_runs() { local rc=0; env -i "$1" >/dev/null 2>&1 || rc=$?; [ "$rc" -eq 41 ]; }

# The marker holds the recipe: a binary cached by another recipe (e.g. before
# SRTP moved to OpenSSL) is rebuilt once.
srtp_backend="${MEDIASOUP_WORKER_SRTP:-openssl}"
case "$srtp_backend" in openssl|system) ;; *) log "MEDIASOUP_WORKER_SRTP must be openssl or system, got '$srtp_backend'"; exit 1 ;; esac
recipe="srtp=$srtp_backend"
cached() { [ -f "$out_bin.ok" ] && [ "$(cat "$out_bin.ok")" = "$recipe" ] && [ -x "$out_bin" ] && worker_runs "$out_bin"; }

if cached; then log "cache hit: $out_bin (mediasoup $version)"; exit 0; fi

# One build at a time per cache directory (two parallel `npm ci` would race).
mkdir -p "$cache_dir"
exec 9>"$cache_dir/.lock"
flock 9
if cached; then log "cache hit after waiting for another build: $out_bin"; exit 0; fi

# --- 1. Debian packages -------------------------------------------------------
mapfile -t packages < <(grep -v '^\s*#' "$here/debian-packages.txt" | grep -v '^\s*$')
if ! dpkg -s "${packages[@]}" >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    log "missing Debian packages and not root; run as root: apt-get install --no-install-recommends ${packages[*]}"
    exit 1
  fi
  log "installing Debian packages: ${packages[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${packages[@]}"
fi

# --- 2. A private copy of the package's worker sources ------------------------
log "building mediasoup-worker $version in $build_root (about 8 minutes on 2 cores)"
started=$SECONDS
rm -rf "$build_root"
mkdir -p "$build_root"
cp -a "$mediasoup_dir/worker" "$build_root/worker"
worker="$build_root/worker"
rm -rf "$worker/out" "$worker/prebuild"   # never reuse a binary or build dir from elsewhere
cd "$worker"

# Replaces the one literal occurrence of $2 in file $1 by $3; fails loudly when
# the text is absent or ambiguous (i.e. a new mediasoup version moved it).
patch_literal() {
  node -e '
    const fs = require("fs");
    const [file, from, to] = process.argv.slice(1);
    const text = fs.readFileSync(file, "utf8");
    const count = text.split(from).length - 1;
    if (count !== 1) {
      console.error(`patch does not apply: ${file} contains ${JSON.stringify(from)} ${count} times (expected 1)`);
      process.exit(1);
    }
    fs.writeFileSync(file, text.replace(from, () => to));
  ' "$@"
}

# --- 3. Patches (each one is needed; the build or the worker breaks without it) ---

# 3a. No downloads. Every subprojects/*.wrap points at GitHub or wrapdb; with
#     them gone (and --wrap-mode=nodownload) meson uses the directories we
#     provide: libuv, openssl, flatbuffers, abseil-cpp -> dependency() on the
#     Debian libraries; unordered_dense (not in Debian) -> a header aliasing it
#     to the std containers; libsrtp3 (a libsrtp 3.x fork, not in Debian) -> a
#     C adapter implementing the libsrtp-3 calls mediasoup makes on top of
#     Debian's libsrtp2. Without this, `meson setup` fails fetching the wraps.
rm -f subprojects/*.wrap
rm -rf subprojects/packagefiles
cp -a "$here/shims/subprojects/." subprojects/

# 3b. mediasoup asks for meson >= 1.1.0; Debian bookworm ships 1.0.1 and the
#     build uses no 1.1 feature. Without this, `meson setup` refuses to start.
meson_required="$(grep -o "meson_version: '>= [0-9.]*'" meson.build || true)"
[ -n "$meson_required" ] || { log "patch does not apply: no meson_version in meson.build"; exit 1; }
meson_have="$(meson --version)"
if ! dpkg --compare-versions "$meson_have" ge "$(grep -o '[0-9][0-9.]*' <<<"$meson_required")"; then
  patch_literal meson.build "$meson_required" "meson_version: '>= $meson_have'"
fi

# 3c. DTLS with a kernel-TLS-enabled OpenSSL (Debian's libssl3; mediasoup's own
#     OpenSSL build has KTLS off, which hides this). onSslBioOut() answers 1 to
#     every post-operation callback unless the operation is exactly
#     BIO_CB_RETURN, so BIO_get_ktls_send() on the memory BIO reads "on",
#     libssl never allocates its write buffer and the worker SIGSEGVs in libssl
#     on the first DTLS flight. Testing the BIO_CB_RETURN bit fixes it.
patch_literal src/RTC/DtlsTransport.cpp \
  '(operationType == BIO_CB_RETURN) ? static_cast<long>(ret) : 1;' \
  '((operationType & BIO_CB_RETURN) != 0) ? static_cast<long>(ret) : 1;'

# --- 3d. SRTP on OpenSSL ------------------------------------------------------
#     Debian's libsrtp2 is built against NSS, whose per-packet cipher setup makes
#     SRTP ~5x slower than on OpenSSL (docs/mediasoup-worker.md "SRTP at parity"); mediasoup's
#     prebuilt worker uses OpenSSL. So: Debian's own libsrtp2 *source package*
#     (apt-get source, from the deb-src twins of this machine's apt sources),
#     built with -Dcrypto-library=openssl as a static library into a private
#     prefix that pkg-config finds first; the libsrtp3 shim links it. The prefix
#     is kept in the cache (<cache>/<version>/libsrtp2-openssl, ~0.3 MB) for
#     `npm run bench:srtp`, which compares it with Debian's NSS build.
if [ "$srtp_backend" = openssl ]; then
  srtp_work="$build_root/libsrtp2"
  apt_dir="$srtp_work/apt"
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/sources.list.d" "$srtp_work/src"
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] && sed -n 's/^\s*deb\s/deb-src /p' "$f" >> "$apt_dir/sources.list.d/src.list"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && sed 's/^Types:.*/Types: deb-src/' "$f" > "$apt_dir/sources.list.d/$(basename "$f")"
  done
  touch "$apt_dir/sources.list"
  apt_opts=(-q -o "Dir::Etc::sourcelist=$apt_dir/sources.list" -o "Dir::Etc::sourceparts=$apt_dir/sources.list.d"
            -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o "APT::Sandbox::User=root")
  log "fetching Debian's libsrtp2 source package (to build it on OpenSSL)"
  apt-get "${apt_opts[@]}" update >&2 || log "apt-get update reported errors for some source lists; trying the download anyway"
  (cd "$srtp_work/src" && apt-get "${apt_opts[@]}" source --download-only libsrtp2 >&2) \
    || { log "cannot download Debian's libsrtp2 source package; MEDIASOUP_WORKER_SRTP=system builds against Debian's NSS libsrtp2 instead (slower SRTP)"; exit 1; }
  orig="$(ls "$srtp_work"/src/libsrtp2_*.orig.tar.* | head -n1)"
  tar -xf "$orig" -C "$srtp_work/src"
  srtp_src="$(find "$srtp_work/src" -mindepth 1 -maxdepth 1 -type d -name 'libsrtp*' | head -n1)"
  [ -f "$srtp_src/meson.build" ] || { log "libsrtp2 source has no meson.build: $orig"; exit 1; }
  srtp_prefix="$cache_dir/libsrtp2-openssl"
  rm -rf "$srtp_prefix"
  meson setup "$srtp_work/build" "$srtp_src" --prefix="$srtp_prefix" --libdir=lib --buildtype=release \
    --wrap-mode=nodownload -Ddefault_library=static -Db_staticpic=true -Dcrypto-library=openssl \
    -Dtests=disabled -Dpcap-tests=disabled -Ddoc=disabled -Dfuzzer=disabled >&2
  ninja -C "$srtp_work/build" ${MEDIASOUP_WORKER_BUILD_JOBS:+-j "$MEDIASOUP_WORKER_BUILD_JOBS"} install >&2
  export PKG_CONFIG_PATH="$srtp_prefix/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
  log "libsrtp2 $(basename "$orig") built on OpenSSL (static) in $srtp_prefix"
fi

# --- 4. Build only the worker executable --------------------------------------
meson setup out/build --buildtype=release --wrap-mode=nodownload
ninja -C out/build ${MEDIASOUP_WORKER_BUILD_JOBS:+-j "$MEDIASOUP_WORKER_BUILD_JOBS"} mediasoup-worker

built="$worker/out/build/mediasoup-worker"
worker_runs "$built" || { log "the built worker does not run (expected exit code 41); build left in $build_root"; exit 1; }
if [ "$srtp_backend" = openssl ] && ldd "$built" | grep -Eq 'libsrtp2|libnss3'; then
  log "the built worker still links the system libsrtp2 (NSS), not the OpenSSL build; build left in $build_root"; exit 1
fi

# --- 5. Publish into the cache: binary first, marker last ---------------------
install -m 0755 "$built" "$out_bin.tmp"
mv -f "$out_bin.tmp" "$out_bin"
echo "$recipe" > "$out_bin.ok"
cd "$project"
rm -rf "$build_root"
log "built $out_bin in $((SECONDS - started)) s"
exit 0
}
