# SPDX-License-Identifier: MIT
# Sourced by scripts that talk to Debian's archive: the release's code name
# and the archive URI exactly as the machine's own apt sources name it (no
# archive host is ever written in this repository).

codename() { . /etc/os-release; echo "${VERSION_CODENAME:-bookworm}"; }

# The URI of the main Debian archive as the machine's sources already name it.
debian_uri() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk '/^URIs:/ {u=$2} /^Suites:/ {for (i=2;i<=NF;i++) if ($i !~ /security/ && u !~ /security/) {print u; exit}}' "$f"
    done | head -n1
    if [ -f /etc/apt/sources.list ]; then
        awk '$1=="deb" && $0 !~ /security/ {for(i=2;i<=NF;i++) if ($i ~ /^(https?|file):/) {print $i; exit}}' /etc/apt/sources.list
    fi
}

# The Signed-By keyring of the main archive's entry, if its sources say one.
debian_keyring() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk '/^URIs:/ {u=$2} /^Signed-By:/ && u !~ /security/ {print $2; exit}' "$f"
    done | head -n1
}

# deb_unpack PKG DIR FETCH: unpack the cached $debs/PKG_*_{arm64,all}.deb
# into DIR with dpkg -x, once (DIR/.unpacked marks it); when no package is
# cached, run `FETCH PKG` first (it must leave one in $debs). Prints DIR.
# Needs $debs and a say() for progress.
deb_unpack() {
    local pkg=$1 dir=$2 fetch=$3 deb
    if [ -f "$dir/.unpacked" ]; then
        echo "$dir"
        return
    fi
    mkdir -p "$debs"
    deb=$(ls "$debs/${pkg}"_*_{arm64,all}.deb 2>/dev/null | head -n1 || true)
    if [ -z "$deb" ]; then
        say "downloading $pkg:arm64"
        "$fetch" "$pkg"
        deb=$(ls "$debs/${pkg}"_*_{arm64,all}.deb 2>/dev/null | head -n1 || true)
        [ -n "$deb" ] || { say "apt-get download $pkg gave no package"; exit 1; }
    fi
    say "unpacking $(basename "$deb")"
    rm -rf "$dir"
    mkdir -p "$dir"
    dpkg -x "$deb" "$dir"
    touch "$dir/.unpacked"
    echo "$dir"
}
