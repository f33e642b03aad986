#!/usr/bin/env bash
# The README's first command: index sample photos, search by words and by image,
# and write contact sheets of the results into $OUT.
set -euo pipefail
PHOTOS=${PHOTOS:?set PHOTOS to a folder of images}
OUT=${OUT:-demo-out}
if ! [ -d "$PHOTOS" ]; then
    echo "demo: no photos at $PHOTOS; run 'make demo PHOTOS=/some/folder/of/images'" >&2
    exit 2
fi
mkdir -p "$OUT"
INDEX="$OUT/index"
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

step picfind index "$PHOTOS" --index "$INDEX"
step picfind index "$PHOTOS" --index "$INDEX"          # a re-run: nothing to do
step picfind stats --index "$INDEX"
step picfind search dog --index "$INDEX" --limit 8 --sheet "$OUT/dog.jpg"
step picfind search cat --index "$INDEX" --limit 8 --sheet "$OUT/cat.jpg"
step picfind search tabby OR "Persian cat" --index "$INDEX" --limit 5
# A query photo from outside the index when there is one (the paper's 3.9), else the first photo.
QUERY=${QUERY:-}
if [ -z "$QUERY" ] || ! [ -f "$QUERY" ]; then
    QUERY=$(find "$PHOTOS" -type f \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.png' \) | sort | head -n 1)
fi
step picfind predict "$QUERY"
step picfind search --image "$QUERY" --index "$INDEX" --limit 9 --sheet "$OUT/more-like-this.jpg"
step picfind search --image "$QUERY" --index "$INDEX" --mode classes --limit 5 --json
printf '\ncontact sheets: %s\n' "$(ls "$OUT"/*.jpg | tr '\n' ' ')"
