#!/usr/bin/env bash
# Runs the numerics and model tests as linux-arm64 code under QEMU user-mode emulation. So the AdvSimd kernels,
# which Apple Silicon and other ARM64 machines run, are checked against the scalar reference and the model
# fixtures on an x64 machine. Arguments are passed to the test program: a text that the test names
# must contain, for example `scripts/test-arm64.sh IntegerMatVec`.
#
# The first run downloads the linux-arm64 runtime pack from NuGet. Test names match case-insensitively,
# on Class.Method. Needs qemu-aarch64 and the arm64 C and C++ runtimes. On Debian or Ubuntu, as root:
#   dpkg --add-architecture arm64 && apt-get update
#   apt-get install qemu-user libc6:arm64 libstdc++6:arm64 libgcc-s1:arm64
# On an ARM64 machine the program runs natively, without QEMU.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
  exit 0
fi

output=artifacts/arm64-tests
program="$output/Waldwicht.Numerics.Tests"

runner=()
if [[ "$(uname -m)" != "aarch64" && "$(uname -m)" != "arm64" ]]; then
  if ! command -v qemu-aarch64 >/dev/null 2>&1; then
    echo "test-arm64: qemu-aarch64 not found; install QEMU user-mode emulation (see the comment at the top of $0)." >&2
    exit 2
  fi
  if [[ ! -e /lib/ld-linux-aarch64.so.1 ]]; then
    echo "test-arm64: the arm64 C runtime (/lib/ld-linux-aarch64.so.1) is missing; install libc6:arm64 (see the comment at the top of $0)." >&2
    exit 2
  fi
  if [[ ! -e /usr/lib/aarch64-linux-gnu/libstdc++.so.6 ]]; then
    echo "test-arm64: the arm64 C++ runtime (libstdc++6:arm64) is missing (see the comment at the top of $0)." >&2
    exit 2
  fi
  # "max" enables every ARMv8 extension QEMU emulates, dot product (Dp) included.
  runner=(qemu-aarch64 -cpu max -L /)
  # Under QEMU 7.2, a long run with the runtime's write-xor-execute mapping of generated code stops with
  # "Illegal instruction" once many methods have been compiled. Without that mapping the same run passes.
  export DOTNET_EnableWriteXorExecute=0
fi

echo "test-arm64: publishing the tests for linux-arm64..." >&2
dotnet publish tests/Waldwicht.Tests.Console -c Release -r linux-arm64 --self-contained -o "$output" --nologo -v quiet

"${runner[@]}" "$program" "$@"
