#!/usr/bin/env bash
# The demo's live update under the JIT, ReadyToRun and Native AOT, interleaved in one run: every repetition runs each
# way at each state size in turn, so a busy moment of the machine spreads over all of them. The demo runs --sequential
# (the next generation starts after the old one's teardown), so the runtime's start is in the blackout, which is what
# this compares; phases.sh measures the successor started before the handover. Prints the commands, then
# a Markdown table of each phase's median and range (milliseconds) over the repetitions; the runs' JSON stays in
# artifacts/blackout.
#   KState.Bench/scripts/blackout.sh REPS SIZE...   (./build.sh blackout builds the three and runs it)
set -euo pipefail
cd "$(dirname "$0")/../.."
reps=${1:-5}
shift || true
sizes=("$@")
((${#sizes[@]})) || sizes=(67108864 1073741824)
declare -A cmd=(
  [JIT]="dotnet KState.Cli/bin/Release/net10.0/kstate.dll"
  [ReadyToRun]="dotnet artifacts/kstate-r2r/kstate.dll"
  [NativeAOT]="artifacts/kstate/kstate"
)
ways=(JIT ReadyToRun NativeAOT)
phases=(blackout_ms save_ms teardown_ms start_ms boot_ms restore_ms memorypack_ms)
out=artifacts/blackout # every run's JSON stays here
rm -rf $out && mkdir -p $out

for way in "${ways[@]}"; do echo "    ${cmd[$way]} demo --json --sequential --state-size SIZE"; done
for ((rep = 1; rep <= reps; rep++)); do
  for size in "${sizes[@]}"; do
    for way in "${ways[@]}"; do
      # shellcheck disable=SC2086 # the command is words
      ${cmd[$way]} demo --json --sequential --state-size "$size" > "$out/$way-$size-$rep.json" ||
        { echo "blackout.sh: $way at $size failed: $(cat "$out/$way-$size-$rep.json")" >&2; exit 1; }
      grep -q '"verified":true' "$out/$way-$size-$rep.json" || { echo "blackout.sh: $way at $size did not verify" >&2; exit 1; }
    done
  done
done

# One value of a phase from every repetition of a way and size: "median (min–max)", or "not run".
summary() {
  local way=$1 size=$2 phase=$3
  cat "$out/$way-$size"-*.json | { grep -o "\"$phase\":[-0-9.eE+]*" || true; } | cut -d: -f2 | sort -g |
    awk '{ v[NR] = $1 } END {
      if (NR == 0) { print "not run"; exit }
      m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
      printf "%.1f (%.1f–%.1f)\n", m, v[1], v[NR] }'
}

echo
echo "| way | state | blackout | save | teardown | process start | boot | restore | MemoryPack |"
echo "|---|---|---|---|---|---|---|---|---|"
for size in "${sizes[@]}"; do
  for way in "${ways[@]}"; do
    row="| $way | $((size >> 20)) MiB |"
    for phase in "${phases[@]}"; do row+=" $(summary "$way" "$size" "$phase") |"; done
    echo "$row"
  done
done
echo
echo "$reps repetitions each; median (min–max) in ms; $(nproc) cores, $(uname -r), /dev/shm"
