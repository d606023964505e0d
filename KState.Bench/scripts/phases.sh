#!/usr/bin/env bash
# The blackout phase by phase: the native demo (artifacts/kstate/kstate) with a successor started before the
# handover and sequentially, on /dev/shm and on a huge-page tmpfs (mounted here huge=always when run as root,
# skipped with a message otherwise), at each state size, against MemoryPack through a file and memcpy through shared
# memory in the same run (the demo carries the same state both ways, once per size and repetition). Every
# repetition runs every way at every size in turn, so a busy moment of the machine spreads over all of them. The
# runs' JSON stays in artifacts/blackout-phases; phases.py writes the Markdown tables (stdout) and the charts.
#   KState.Bench/scripts/phases.sh [REPS [SIZE...]]   (./build.sh blackout phases builds kstate and runs it)
set -euo pipefail
cd "$(dirname "$0")/../.."
reps=${1:-3}
shift || true
sizes=("$@")
((${#sizes[@]})) || sizes=(67108864 1073741824 4294967296)
kstate=artifacts/kstate/kstate
[[ -x $kstate ]] || { echo "phases.sh: $kstate is not built (./build.sh blackout phases builds it)" >&2; exit 2; }
out=artifacts/blackout-phases
rm -rf $out && mkdir -p $out

declare -A dir=([shm]=/dev/shm)
backings=(shm)
huge=""
if [[ $(id -u) == 0 ]]; then
  huge=$(mktemp -d /tmp/kstate-huge.XXXXXX)
  largest=$(printf '%s\n' "${sizes[@]}" | sort -n | tail -n1)
  # Room for the largest region (state + a quarter + 64 MiB) and a margin.
  mount -t tmpfs -o "huge=always,size=$((largest * 3 / 2 + (256 << 20)))" tmpfs "$huge"
  trap 'umount "$huge" && rmdir "$huge"' EXIT
  trap 'exit 1' INT TERM # through the EXIT trap: the mount goes even when the run is stopped
  dir[huge]=$huge
  backings+=(huge)
else
  echo "phases.sh: not root, so the huge-page tmpfs is not measured (it needs: mount -t tmpfs -o huge=always tmpfs DIR)" >&2
fi

# The same handover from C through libkstate.so (examples/successor.c: values preserved in place, no KSTATE records,
# no .NET runtime in either generation): the floor the demo approaches once its state is used in place.
c_successor=""
if [[ -f artifacts/native/libkstate.so ]]; then
  c_successor=$out/successor
  # shellcheck disable=SC2046 # pkg-config's output is meant to be split
  gcc -O2 -Wall -Werror -o $c_successor KState.Native/examples/successor.c $(PKG_CONFIG_PATH=artifacts/native pkg-config --cflags --libs kstate)
else
  echo "phases.sh: artifacts/native/libkstate.so is not built (./build.sh native), so the C successor is not measured" >&2
fi

echo "    $kstate demo --json --state-size SIZE --region DIR/kstate-phases [--sequential | --copy] [--no-baselines]"
[[ -z $c_successor ]] || echo "    $c_successor DIR/kstate-phases-c MIB ORDER   (examples/successor.c; ORDER 9, and 0 at 1 GiB)"
echo "    (DIR: /dev/shm${huge:+, and $huge: mount -t tmpfs -o huge=always,size=... tmpfs $huge})"
for ((rep = 1; rep <= reps; rep++)); do
  for size in "${sizes[@]}"; do
    for backing in "${backings[@]}"; do
      # copy: the successor with its index copied through records (--copy), the path before the index was in place.
      for mode in successor sequential $([[ $backing == shm ]] && echo copy); do
        args=(demo --json --state-size "$size" --region "${dir[$backing]}/kstate-phases-$$")
        [[ $mode == sequential ]] && args+=(--sequential)
        [[ $mode == copy ]] && args+=(--copy)
        # The baselines once per size and repetition: they do not depend on the backing or the mode.
        [[ $backing == shm && $mode == successor ]] || args+=(--no-baselines)
        file=$out/$backing-$mode-$size-$rep.json
        "$kstate" "${args[@]}" > "$file" || { echo "phases.sh: $backing $mode at $size failed: $(cat "$file")" >&2; exit 1; }
        rm -f "${dir[$backing]}/kstate-phases-$$"
        grep -q '"verified":true' "$file" || { echo "phases.sh: $backing $mode at $size did not verify" >&2; exit 1; }
        echo "  rep $rep, $((size >> 20)) MiB, $backing, $mode: blackout $(grep -o '"blackout_ms":[0-9.]*' "$file" | cut -d: -f2) ms" >&2
      done
      # 2 MiB folios at every size; at 1 GiB also 262,144 order-0 folios (the issue's fresh-process boot + restore target).
      for order in 9 $( ((size == 1 << 30)) && echo 0); do
        [[ -n $c_successor ]] || break
        way=c; ((order == 9)) || way=c$order
        text=$("$c_successor" "${dir[$backing]}/kstate-phases-c-$$" $((size >> 20)) $order) ||
          { echo "phases.sh: successor.c on $backing at $size, order $order failed" >&2; exit 1; }
        rm -f "${dir[$backing]}/kstate-phases-c-$$"
        grep -q "every byte verified" <<<"$text" || { echo "phases.sh: successor.c on $backing at $size did not verify: $text" >&2; exit 1; }
        # "gen1: ... finalized at F ms, torn down at D ms"; "gen2: booted at B ms, serving at S ms after stop-serving"
        sed -n 's/.*finalized at \([0-9.]*\) ms, torn down at \([0-9.]*\) ms.*/"finalized_at_ms":\1,"torn_down_at_ms":\2/p; s/.*booted at \([0-9.]*\) ms, serving at \([0-9.]*\) ms.*/"booted_at_ms":\1,"blackout_ms":\2/p' <<<"$text" |
          paste -sd, | sed 's/^/{/; s/$/}/' > "$out/$backing-$way-$size-$rep.json"
        echo "  rep $rep, $((size >> 20)) MiB, $backing, C successor, order $order: $(tail -n1 <<<"$text")" >&2
      done
    done
  done
done
python3 KState.Bench/scripts/phases.py $out docs
echo
echo "$reps repetitions each; median (min–max) in ms; $(nproc) cores, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
