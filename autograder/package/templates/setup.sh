#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (with internet access).
# It installs Python >= 3.11, a virtual environment at $ROOT/venv holding the grader's pinned
# dependencies and this project, and, when the package was built with --download-data, the
# parts' data into $ROOT/data (with --data-dir the files grading reads are in the zip instead).
# What was chosen at build time is in package_settings.sh.
set -euo pipefail

ROOT="${AUTOGRADER_ROOT:-/autograder}"
SOURCE="${AUTOGRADER_SOURCE:-$ROOT/source}"
VENV="${AUTOGRADER_VENV:-$ROOT/venv}"
DATA_DIR="${AUTOGRADER_DATA:-$ROOT/data}"
# shellcheck source=/dev/null
. "$SOURCE/package_settings.sh"

# The grading configuration is read with tomllib (Python 3.11+): Gradescope's Ubuntu 22.04
# image ships 3.10 (3.11 is one apt package away), Ubuntu 24.04 ships 3.12.
python_is_recent() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; }

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
PYTHON=python3
if ! python_is_recent "$PYTHON"; then
    apt-get install -y -qq python3.11
    PYTHON=python3.11
fi
PYVER="$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
# venv needs ensurepip, which Debian/Ubuntu split out; unshare (util-linux) gives the sandbox
# its namespaces where the container allows them.
apt-get install -y -qq "python$PYVER-venv" util-linux

# Outside $SOURCE on purpose: run_autograder makes $SOURCE root-only, and student code must
# still be able to run this interpreter and import numpy and torch from it.
"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install --quiet --upgrade pip
torch_args=("$TORCH_REQUIREMENT")
if [ -n "$TORCH_INDEX_URL" ]; then
    torch_args+=(--index-url "$TORCH_INDEX_URL")
fi
"$VENV/bin/pip" install --quiet "${torch_args[@]}"
"$VENV/bin/pip" install --quiet -r "$SOURCE/requirements.txt"
# Editable: the code stays in $SOURCE (root-only once grading starts), never in a
# world-readable site-packages; --no-deps because everything it needs is installed above.
"$VENV/bin/pip" install --quiet --no-deps -e "$SOURCE"

# Each part's declared archive (its part.toml's [data] table): "url md5" pairs.
if [ "$GRADE_DATA" = download ]; then
    mkdir -p "$DATA_DIR"
    archive="$DATA_DIR/download.tar.gz"
    set -- $DATA_DOWNLOADS
    while [ "$#" -ge 2 ]; do
        "$VENV/bin/python" -c 'import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' \
            "$1" "$archive"
        echo "$2  $archive" | md5sum --check --quiet -
        tar -xzf "$archive" -C "$DATA_DIR"
        rm "$archive"
        shift 2
    done
fi

# Fail the image build now, not at the first student's submission.
"$VENV/bin/python" -c 'import numpy, torch, autograder.run'
echo "autograder set up: $("$VENV/bin/python" --version), torch $("$VENV/bin/python" -c 'import torch; print(torch.__version__)')"
