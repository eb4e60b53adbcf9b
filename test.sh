#!/usr/bin/env bash
# Runs the full test suite (the command README.md documents).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

scripts/fetch-test-assets.sh
dotnet test Waldwicht.slnx -c Release --nologo "$@"
