#!/usr/bin/env bash
# aorta developer entry point.
#   ./build/dev.sh build            install missing Debian packages, bootstrap, configure, build, install in ./_install
#   ./build/dev.sh run              build, then start aorta in the foreground with the shipped configuration
#   ./build/dev.sh test [--sanitize] build, then run every test suite; ends with "N passed, N failed"
#   ./build/dev.sh reference        regenerate docs/reference.md from the settings tables
#   ./build/dev.sh bench [--short]  build, then Kamailio and aorta side by side (bench/bench.py) and the
#                                   micro-benchmarks (bench/micro.py); tables in bench/results/
#   ./build/dev.sh distcheck        make distcheck
# --sanitize builds with ASan+UBSan into ./_build-sanitize and ./_install-sanitize.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

cmd=${1:-build}
shift || true
sanitize=no
short=()
for a in "$@"; do
    case "$a" in
        --sanitize) sanitize=yes ;;
        --short) short=(--short) ;;
        *) echo "dev.sh: unknown option $a" >&2; exit 2 ;;
    esac
done

build_pkgs=(build-essential autoconf automake libtool pkg-config
    libsofia-sip-ua-dev libapr1-dev libaprutil1-dev libaprutil1-dbd-sqlite3 libaprutil1-dbd-pgsql
    libxml2-dev libpcre2-dev libjansson-dev libssl-dev libedit-dev uuid-dev libpq-dev check)
test_pkgs=(sip-tester python3 openssl sqlite3 procps postgresql kamailio kamailio-sqlite-modules baresip-core)

need_pkgs() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "dev.sh: installing ${missing[*]}" >&2
        local sudo=""
        [ "$(id -u)" = 0 ] || sudo=sudo
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
    fi
}

need_node() {
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        need_pkgs nodejs npm
    fi
}

if [ "$sanitize" = yes ]; then
    builddir="$top/_build-sanitize"; prefix="$top/_install-sanitize"; confflags=(--enable-sanitize)
else
    builddir="$top/_build"; prefix="$top/_install"; confflags=()
fi

do_build() {
    need_pkgs "${build_pkgs[@]}"
    if [ ! -x "$top/configure" ] || [ "$top/configure.ac" -nt "$top/configure" ]; then
        (cd "$top" && autoreconf -fi >/dev/null 2>&1) || { cd "$top" && autoreconf -fi; exit 1; }
    fi
    mkdir -p "$builddir"
    if [ ! -f "$builddir/Makefile" ]; then
        (cd "$builddir" && "$top/configure" --prefix="$prefix" "${confflags[@]}" >/dev/null) \
            || { echo "dev.sh: configure failed, see $builddir/config.log" >&2; exit 1; }
    fi
    make -C "$builddir" -j"$(nproc)" >/dev/null
    # a development prefix: the installed configuration follows conf/ (generated secrets are kept)
    make -C "$builddir" install CONF_REFRESH=yes 2> >(grep -v "warning: relinking" >&2) >/dev/null
}

case "$cmd" in
    build)
        do_build
        echo "dev.sh: built and installed in $prefix"
        ;;
    run)
        do_build
        exec "$prefix/bin/aorta" --foreground
        ;;
    test)
        need_pkgs "${test_pkgs[@]}"
        need_node
        do_build
        make -C "$builddir/tests" -j"$(nproc)" check TESTS= >/dev/null
        # Pinned npm clients for the event-socket tests (package-lock.json in tests/esl).
        if [ -f "$top/tests/esl/package-lock.json" ] && [ ! -d "$top/tests/esl/node_modules" ]; then
            (cd "$top/tests/esl" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
        fi
        export AORTA_PREFIX="$prefix" AORTA_BUILDDIR="$builddir" AORTA_SRCDIR="$top" AORTA_SANITIZE="$sanitize"
        exec "$top/tests/run.sh"
        ;;
    reference)
        do_build
        "$prefix/bin/aorta" --reference --mod-dir "$prefix/lib/aorta/mod" > "$top/docs/reference.md"
        echo "dev.sh: wrote docs/reference.md"
        ;;
    distcheck)
        do_build
        make -C "$builddir" distcheck
        ;;
    bench)
        need_pkgs python3 procps sqlite3
        do_build
        mkdir -p "$top/bench/results"
        stamp=$(date -u +%Y%m%dT%H%M%SZ)
        # bench.py installs SIPp and Kamailio itself when they are missing
        AORTA_PREFIX="$prefix" python3 "$top/bench/bench.py" "${short[@]}" \
            --markdown "$top/bench/results/bench-$stamp.md"
        AORTA_PREFIX="$prefix" python3 "$top/bench/micro.py" "${short[@]}" \
            --markdown "$top/bench/results/micro-$stamp.md"
        echo "dev.sh: tables in bench/results/bench-$stamp.md and bench/results/micro-$stamp.md"
        ;;
    *)
        echo "usage: $0 build|run|test [--sanitize]|reference|distcheck|bench [--short]" >&2
        exit 2
        ;;
esac
