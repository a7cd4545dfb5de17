# SPDX-License-Identifier: MIT
# Sourced by scripts/install-deps.sh and scripts/fetch-linux.sh.

# The URI of the main Debian archive as the machine's sources already name it
# (never an address written into the tree).
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
