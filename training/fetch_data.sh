#!/usr/bin/env bash
# Fetch the colour images that training recipes read from package wheels (see ../README.md#training).
# Everything else comes from scikit-image and scikit-learn, which are installed anyway.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p data
if [ ! -f data/tiatoolbox/data/target_image.png ]; then
    tmp=$(mktemp -d)
    pip download --quiet --no-deps --dest "$tmp" tiatoolbox
    python -m zipfile -e "$tmp"/tiatoolbox-*.whl "$tmp/unpacked"
    mkdir -p data/tiatoolbox/data
    cp "$tmp/unpacked/tiatoolbox/data/target_image.png" data/tiatoolbox/data/
    rm -rf "$tmp"
fi
echo "training data ready in $(pwd)/data"
