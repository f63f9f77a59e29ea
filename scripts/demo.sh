#!/usr/bin/env bash
# Index the sample manual and answer one text and one photo question, fully offline.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export LOCALRAG_HOME="${LOCALRAG_HOME:-$PWD/.localrag/demo}"
lr=(.venv/bin/localrag)
manual=localrag/data/aquapure-300-manual.pdf
photo=localrag/data/query-wiring-photo.jpg

echo "== localrag index $manual   (index: $LOCALRAG_HOME)"
# --reembed-images: a demo index left by an older localrag gets this one's image vectors
"${lr[@]}" index --reembed-images "$manual"
echo
echo '== localrag ask "How do I replace the filter cartridge?"'
"${lr[@]}" ask "How do I replace the filter cartridge?"
echo
echo "== localrag ask --image $photo \"What is this diagram and which fuse does it use?\""
"${lr[@]}" ask --image "$photo" "What is this diagram and which fuse does it use?"
