#!/usr/bin/env bash
# KState build entry point.
#   ./build.sh          build, publish kstate natively and run the main job (the live-update demo) as that executable
#   ./build.sh test     restore, build with warnings as errors, run every non-stress test; ends with "N passed, N failed"
#   ./build.sh stress   the long runs (Category "Stress") and a 20 s fuzz run per target (needs afl++: installed as root)
#   ./build.sh blackout [REPS SIZE...]  the demo's live update under the JIT, ReadyToRun and Native AOT in one run (a table)
#   ./build.sh blackout phases [REPS SIZE...]  the native demo phase by phase: successor and sequential, /dev/shm and a
#                       huge-page tmpfs (as root), against MemoryPack and memcpy; tables, and charts into docs/
#   ./build.sh bench    BenchmarkDotNet benchmarks (extra arguments go to BenchmarkDotNet, e.g. --filter '*Kho*')
#   ./build.sh native   publish libkstate.so (with libMono.Unix.so beside it), kstate.h and kstate.pc into one folder
#   ./build.sh install [PREFIX]  install them under PREFIX (default artifacts/install): lib/libkstate.so.VERSION with its
#                       links, include/kstate.h, lib/pkgconfig/kstate.pc; then builds and runs the C and C++ examples from there
#   ./build.sh fuzz [SECONDS]  AFL++ and SharpFuzz on the boot validator and the stream reader, SECONDS each (60)
set -euo pipefail
cd "$(dirname "$0")"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
CONFIG=Release
RESULTS=artifacts/test-results

die() { echo "build.sh: $*" >&2; exit 2; }

# Installs what is missing when run as root on Debian; otherwise says exactly what is missing.
ensure_tools() {
  command -v dotnet >/dev/null || die "missing: the .NET 10 SDK (dotnet) — see https://learn.microsoft.com/dotnet/core/install/linux-debian"
  local missing=()
  command -v dtc >/dev/null || missing+=(device-tree-compiler)
  command -v gcc >/dev/null || missing+=(gcc)
  command -v g++ >/dev/null || missing+=(g++)
  command -v pkg-config >/dev/null || missing+=(pkg-config)
  if ((${#missing[@]})); then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
      echo "build.sh: installing ${missing[*]}" >&2
      apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
      die "missing: ${missing[*]} (as root: apt-get install ${missing[*]})"
    fi
  fi
}

build() {
  dotnet restore KState.sln --verbosity quiet
  dotnet build KState.sln -c $CONFIG --no-restore --verbosity quiet -warnaserror -nologo -clp:NoSummary
}

NATIVE=artifacts/native
# The one place the version is typed: Directory.Build.props (the packages, the assemblies, libkstate's SONAME, kstate.pc).
VERSION=$(sed -n 's:.*<Version>\(.*\)</Version>.*:\1:p' Directory.Build.props)
MAJOR=${VERSION%%.*}

# Native AOT: libkstate.so with its header and pkg-config file, in one folder. libkstate.so reaches POSIX through
# Mono.Unix, whose shim libMono.Unix.so the publish puts beside it; libkstate.so's run path ($ORIGIN) finds it there.
native() {
  [[ $VERSION =~ ^[0-9]+\.[0-9]+\.[0-9]+ ]] || die "Directory.Build.props: no <Version>MAJOR.MINOR.PATCH</Version> (found '$VERSION')"
  dotnet publish KState.Native/KState.Native.csproj -c $CONFIG -o $NATIVE --verbosity quiet -nologo -clp:NoSummary
  [[ -f $NATIVE/libMono.Unix.so ]] || die "publish did not put libMono.Unix.so beside libkstate.so"
  # Programs linked here record the SONAME libkstate.so.MAJOR: it must resolve in this folder too.
  ln -sfn libkstate.so $NATIVE/libkstate.so.$MAJOR
  cp KState.Native/include/kstate.h $NATIVE/
  local prefix
  prefix=$(cd $NATIVE && pwd)
  cat > $NATIVE/kstate.pc <<PC
prefix=$prefix
libdir=\${prefix}
includedir=\${prefix}

Name: kstate
Description: KState: KHO emulation and KSTATE for C
Version: $VERSION
Cflags: -I\${includedir}
Libs: -L\${libdir} -lkstate -Wl,-rpath,\${libdir}
PC
}

# Installs the published library under a prefix as a shared library is installed (libkstate.so.VERSION, the
# SONAME link libkstate.so.MAJOR, the development link libkstate.so), then builds and runs the C and C++ examples
# against that prefix alone (pkg-config only, from another directory) so a broken install fails here rather than
# in a user's build.
install_to() {
  local prefix=${1:-artifacts/install}
  mkdir -p "$prefix/lib/pkgconfig" "$prefix/include"
  prefix=$(cd "$prefix" && pwd)
  local soname
  soname=$(readelf -d $NATIVE/libkstate.so | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
  [[ $soname == "libkstate.so.$MAJOR" ]] || die "$NATIVE/libkstate.so has SONAME '$soname', expected libkstate.so.$MAJOR"
  rm -f "$prefix/lib/libkstate.so" "$prefix/lib/libkstate.so.$MAJOR"
  install -m 0755 $NATIVE/libkstate.so "$prefix/lib/libkstate.so.$VERSION"
  ln -s "libkstate.so.$VERSION" "$prefix/lib/libkstate.so.$MAJOR"
  ln -s "libkstate.so.$MAJOR" "$prefix/lib/libkstate.so"
  install -m 0755 $NATIVE/libMono.Unix.so "$prefix/lib/"
  install -m 0644 $NATIVE/kstate.h "$prefix/include/"
  cat > "$prefix/lib/pkgconfig/kstate.pc" <<PC
prefix=$prefix
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: kstate
Description: KState: KHO emulation and KSTATE for C
Version: $VERSION
Cflags: -I\${includedir}
Libs: -L\${libdir} -lkstate -Wl,-rpath,\${libdir}
PC
  local work region flags
  work=$(mktemp -d)
  region=/dev/shm/kstate-install-check-$$
  trap 'rm -rf "$work"; rm -f "$region"' RETURN
  flags=$(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --libs kstate)
  # shellcheck disable=SC2086 # pkg-config's output is meant to be split
  gcc -Wall -Werror -o "$work/talk" KState.Native/examples/talk.c $flags
  # shellcheck disable=SC2086
  g++ -std=c++17 -Wall -Werror -o "$work/talk-cpp" KState.Native/examples/talk.cpp $flags
  (cd "$work" && env -u LD_LIBRARY_PATH ./talk save "$region" >/dev/null && env -u LD_LIBRARY_PATH ./talk restore "$region") > "$work/out" \
    || die "the talk example failed from the installed prefix $prefix"
  grep -q "restored: i=42" "$work/out" || die "the talk example did not restore from the installed prefix $prefix"
  (cd "$work" && env -u LD_LIBRARY_PATH ./talk-cpp save "$region" >/dev/null && env -u LD_LIBRARY_PATH ./talk-cpp restore "$region") > "$work/out" \
    || die "the C++ talk example failed from the installed prefix $prefix"
  grep -q "restored: i=42" "$work/out" || die "the C++ talk example did not restore from the installed prefix $prefix"
  echo "$prefix"
}

KSTATE_AOT=artifacts/kstate

# kstate as a Native AOT executable (no JIT, no .NET host: a generation starts in milliseconds). KState.Kho reaches
# POSIX through Mono.Unix, whose shim libMono.Unix.so the publish puts beside kstate; the runtime loads it from there.
# Trim and AOT warnings fail the publish (TreatWarningsAsErrors), for kstate and every assembly it compiles in.
kstate_aot() {
  dotnet publish KState.Cli/KState.Cli.csproj -c $CONFIG -r linux-x64 -o $KSTATE_AOT --verbosity quiet -nologo -clp:NoSummary
  [[ -f $KSTATE_AOT/libMono.Unix.so ]] || die "publish did not put libMono.Unix.so beside kstate"
}

# kstate compiled ahead of time as ReadyToRun (still run by dotnet, JIT for what was not precompiled), to compare.
kstate_r2r() {
  dotnet publish KState.Cli/KState.Cli.csproj -c $CONFIG -r linux-x64 --self-contained false -p:PublishAot=false \
    -p:PublishReadyToRun=true -o artifacts/kstate-r2r --verbosity quiet -nologo -clp:NoSummary
}

FUZZ=artifacts/fuzz
FINDINGS=KState.Fuzz/findings

# afl-fuzz from Debian's afl++; sharpfuzz (SharpFuzz.CommandLine, the .NET instrumenter) as a tool under artifacts/.
ensure_fuzz_tools() {
  if ! command -v afl-fuzz >/dev/null; then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
      echo "build.sh: installing afl++" >&2
      apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq afl++ >/dev/null
    else
      die "missing: afl++ (as root: apt-get install afl++)"
    fi
  fi
  [[ -x artifacts/tools/sharpfuzz ]] ||
    dotnet tool install --tool-path artifacts/tools SharpFuzz.CommandLine --version 2.3.0 >/dev/null
}

# Coverage-guided fuzzing of each target for SECONDS: KState exceptions are expected, anything else (another
# exception, a crash, a hang) is a finding, copied with the replayed stack to KState.Fuzz/findings/TARGET.
fuzz() {
  local seconds=${1:-60} bin=$FUZZ/bin found=0 shm
  [[ $seconds =~ ^[0-9]+$ && $seconds -gt 0 ]] || die "fuzz SECONDS: '$seconds' is not a number of seconds"
  ensure_fuzz_tools
  rm -rf $FUZZ && mkdir -p $FUZZ/out
  cp -r KState.Fuzz/bin/$CONFIG/net10.0 $bin
  # Corpora first: instrumented code may run only under afl-fuzz.
  dotnet $bin/KState.Fuzz.dll seed $FUZZ/corpus
  for assembly in KState.Kho KState.Core; do artifacts/tools/sharpfuzz $bin/$assembly.dll >/dev/null; done
  shm=$(mktemp -d /dev/shm/kstate-fuzz-run.XXXXXX)
  for target in boot stream; do
    local args=("$target" "$(pwd)/$FUZZ/corpus/template.region") out=$FUZZ/out/$target
    echo "fuzz $target: afl-fuzz for ${seconds} s"
    if ! KSTATE_FUZZ_SHM=$shm AFL_SKIP_BIN_CHECK=1 AFL_NO_UI=1 AFL_NO_AFFINITY=1 AFL_SKIP_CPUFREQ=1 \
      AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 afl-fuzz -i $FUZZ/corpus/$target -o "$out" -x KState.Fuzz/kstate.dict -V "$seconds" -t 10000 -m none \
      -- dotnet $bin/KState.Fuzz.dll "${args[@]}" >$FUZZ/$target.log 2>&1; then
      rm -rf "$shm"
      tail -n 30 $FUZZ/$target.log >&2
      die "afl-fuzz $target failed (log: $FUZZ/$target.log)"
    fi
    local stats=$out/default/fuzzer_stats
    local execs paths edges rate crashes hangs
    execs=$(sed -n 's/^execs_done *: //p' "$stats")
    rate=$(sed -n 's/^execs_per_sec *: //p' "$stats")
    paths=$(sed -n 's/^corpus_count *: //p' "$stats")
    edges=$(sed -n 's/^edges_found *: //p' "$stats")
    crashes=$(sed -n 's/^saved_crashes *: //p' "$stats")
    hangs=$(sed -n 's/^saved_hangs *: //p' "$stats")
    echo "fuzz $target: $execs executions ($rate/s), $paths paths, $edges edges, $crashes crashes, $hangs hangs"
    if ((crashes + hangs > 0)); then
      # One folder per run: the inputs, the region they were laid over, and their stacks.
      local keep
      keep=$FINDINGS/$target/$(date -u +%Y%m%dT%H%M%SZ)
      mkdir -p "$keep"
      cp "$out"/default/crashes/id* "$out"/default/hangs/id* "$keep"/ 2>/dev/null || true
      cp $FUZZ/corpus/template.region "$keep"/
      # The stacks, from the uninstrumented build (a hang shows as a replay that does not end: bounded here).
      (cd "$keep" && timeout 120 dotnet "$OLDPWD"/KState.Fuzz/bin/$CONFIG/net10.0/KState.Fuzz.dll replay $target template.region id* \
        >replay.txt 2>&1 || true)
      echo "fuzz $target: findings in $keep (stacks in replay.txt)"
      found=$((found + crashes + hangs))
    fi
  done
  rm -rf "$shm"
  ((found == 0)) || die "fuzz: $found findings"
}

# Runs the NUnit suite with a filter and prints "N passed, N failed" from the TRX counters.
run_tests() {
  local filter=$1 trx=$RESULTS/results.trx rc=0
  rm -rf "$RESULTS"
  dotnet test KState.Tests/KState.Tests.csproj -c $CONFIG --no-build --filter "$filter" \
    --logger "trx;LogFileName=results.trx" --logger "console;verbosity=normal" --results-directory "$RESULTS" || rc=$?
  local passed=0 failed=0
  if [[ -f $trx ]]; then
    passed=$(grep -o 'passed="[0-9]*"' "$trx" | head -n1 | grep -o '[0-9]*')
    failed=$(grep -o 'failed="[0-9]*"' "$trx" | head -n1 | grep -o '[0-9]*')
  else
    failed=1
  fi
  if [[ $rc != 0 && $failed == 0 ]]; then failed=1; fi # the runner itself failed
  echo "$passed passed, $failed failed"
  [[ $failed == 0 ]]
}

case "${1:-demo}" in
  demo)
    ensure_tools
    build
    kstate_aot
    $KSTATE_AOT/kstate demo "${@:2}"
    ;;
  test)
    ensure_tools
    build
    native
    install_to >/dev/null
    kstate_aot
    export KSTATE_NATIVE_DIR KSTATE_AOT_DIR KSTATE_REQUIRE_NATIVE=1
    KSTATE_NATIVE_DIR=$(cd $NATIVE && pwd)
    KSTATE_AOT_DIR=$(cd $KSTATE_AOT && pwd)
    run_tests "TestCategory!=Stress"
    ;;
  stress)
    ensure_tools
    build
    native
    export KSTATE_NATIVE_DIR KSTATE_REQUIRE_NATIVE=1
    KSTATE_NATIVE_DIR=$(cd $NATIVE && pwd)
    fuzz_rc=0
    (fuzz 20) || fuzz_rc=$?
    run_tests "TestCategory=Stress"
    ((fuzz_rc == 0)) || die "the short fuzz run failed (see above)"
    ;;
  native)
    ensure_tools
    native
    cd $NATIVE && pwd
    ;;
  install)
    ensure_tools
    native
    install_to "${@:2}"
    ;;
  fuzz)
    ensure_tools
    build
    fuzz "${@:2}"
    ;;
  blackout)
    ensure_tools
    build
    kstate_aot
    if [[ ${2:-} == phases ]]; then
      KState.Bench/scripts/phases.sh "${@:3}"
    else
      kstate_r2r
      KState.Bench/scripts/blackout.sh "${@:2}"
    fi
    ;;
  bench)
    ensure_tools
    dotnet run -c $CONFIG --project KState.Bench -- "${@:2}"
    ;;
  *)
    die "unknown command '$1' (use: ./build.sh [demo|test|stress|blackout|bench|native|install|fuzz])"
    ;;
esac
