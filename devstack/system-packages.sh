#!/usr/bin/env bash
# Checks the system libraries the app needs outside the venv and installs them when we may.
#   system-packages.sh run   Pango & co. for WeasyPrint, plus a font for fontconfig
#   system-packages.sh test  the same, plus Debian's Chromium for the Playwright browser tests
# We check for the files themselves (not dpkg), so libraries installed another way count too;
# the package names are Debian 12's.
set -euo pipefail

profile="${1:-run}"
case "$profile" in run|test) ;; *) echo "usage: $0 run|test" >&2; exit 2 ;; esac

ldconfig_bin="$(command -v ldconfig || echo /sbin/ldconfig)"
libraries="$("$ldconfig_bin" -p 2>/dev/null || true)"

missing=()
need_lib() { # soname package
    grep -qF "$1 " <<<"$libraries" || missing+=("$2")
}
need_file() { # path package
    [ -e "$1" ] || missing+=("$2")
}

need_lib libgobject-2.0.so.0 libglib2.0-0
need_lib libpango-1.0.so.0 libpango-1.0-0
need_lib libpangoft2-1.0.so.0 libpangoft2-1.0-0
need_lib libharfbuzz.so.0 libharfbuzz0b
need_lib libharfbuzz-subset.so.0 libharfbuzz-subset0  # WeasyPrint warns without it
need_lib libfontconfig.so.1 libfontconfig1
need_file /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf fonts-dejavu-core
if [ "$profile" = test ]; then
    # Playwright never downloads a browser here: the tests launch this one.
    need_file /usr/bin/chromium chromium
    # Playwright's bundled Node.js driver links against libatomic (absent from a minimal Debian).
    need_lib libatomic.so.1 libatomic1
fi

[ ${#missing[@]} -eq 0 ] && exit 0

install=(apt-get install -y --no-install-recommends "${missing[@]}")
if command -v apt-get >/dev/null; then
    if [ "$(id -u)" -eq 0 ]; then
        as_root() { "$@"; }
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        as_root() { sudo -n "$@"; }
    fi
fi
if declare -F as_root >/dev/null; then
    echo "Installing system packages: ${missing[*]}" >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive "${install[@]}"
    exit 0
fi

cat >&2 <<MSG
Missing system packages for 'make $profile': ${missing[*]}
Install them (Debian/Ubuntu) and run make again:

    sudo apt-get update && sudo ${install[*]}

MSG
exit 1
