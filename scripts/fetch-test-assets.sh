#!/usr/bin/env bash
# Downloads large test assets that are not committed (the full Gemma vocabulary) into .cache/.
# Tests that need an asset skip with a message when it is absent.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mkdir -p .cache
