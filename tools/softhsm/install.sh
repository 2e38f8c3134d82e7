#!/usr/bin/env bash
# Installs SoftHSM2 (Debian's `softhsm2`), the PKCS#11 software token the hardware-key tests use.
# Idempotent: does nothing when softhsm2-util and the module are already there. Needs root (or sudo)
# for apt-get; otherwise it says what to run and fails, so no test silently skips.
set -euo pipefail

have() {
    command -v softhsm2-util >/dev/null 2>&1 &&
        { [[ -e /usr/lib/softhsm/libsofthsm2.so ]] || [[ -e /usr/lib64/pkcs11/libsofthsm2.so ]]; }
}

if have; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "SoftHSM2 is missing and this is not a Debian-family system: install softhsm2 with your package manager" >&2
    exit 1
fi
sudo=()
if [[ "$(id -u)" != 0 ]]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "SoftHSM2 is missing: run 'apt-get install -y softhsm2' as root" >&2
        exit 1
    fi
    sudo=(sudo)
fi
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq softhsm2 >/dev/null
have
