#!/usr/bin/env bash
# Install headless Chromium + chromedriver (Debian packages) for the report browser test.
# Never fails the caller: if it cannot install, it says why and exits 0 (the test then skips).
set -u

if [ -x /usr/bin/chromium ] && command -v chromedriver >/dev/null 2>&1; then
    echo "ensure_chromium: chromium and chromedriver already installed"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "ensure_chromium: not root; install manually: sudo apt-get install -y chromium chromium-driver"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure_chromium: apt-get not found (not Debian/Ubuntu); install chromium + chromedriver yourself"
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
if apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null; then
    echo "ensure_chromium: installed $(/usr/bin/chromium --version 2>/dev/null || echo chromium)"
else
    echo "ensure_chromium: apt-get install chromium chromium-driver failed; the browser test will be skipped"
fi
exit 0
