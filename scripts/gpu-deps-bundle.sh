#!/usr/bin/env bash
# Bundles vsr_flow's Debian build dependencies for an air-gapped GPU node that lacks them: run on
# a connected Debian 12 (bookworm) machine with apt (no root needed), carry OUT_DIR over, and
# point scripts/gpu-check.sh at it:
#
#   scripts/gpu-deps-bundle.sh OUT_DIR
#   VSR_DEPS_ROOT=OUT_DIR/root scripts/gpu-check.sh        # on the node
#
# What it bundles: the build's tools and -dev packages (below) and the closure of their Depends
# and Pre-Depends, read with apt-cache depends (Recommends, Suggests and the rest left out) as
# apt would pick: the first alternative of each "a | b", a virtual name's first provider only
# when it has no real alternative. (apt-cache depends --recurse keeps every alternative and
# every provider: three OpenBLAS builds, BLIS and ATLAS, and libelogind0, whose libsystemd.so.0
# would then shadow the real one.) Less what a minimal Debian 12 base already has: packages of
# Priority required or important, and the C/C++ runtime every node that runs torch has
# (libc6 libgcc-s1 libstdc++6 zlib1g; above all a second libc.so.6 on LD_LIBRARY_PATH next to
# the node's own ld.so would break every program). LibTorch and CUDA are not in it: they come
# from the node's own torch wheel and CUDA toolkit.
#
# Layout: OUT_DIR/debs/ the downloaded .debs (apt-get download, in a scratch folder first; one
# already there is not fetched again), OUT_DIR/root/ all of them unpacked with dpkg -x (a folder
# holding usr/...), OUT_DIR/packages.txt one name=version a line. No maintainer scripts run, so
# what dpkg -x leaves undone is done here, inside root/: the libblas.so.3/liblapack.so.3 links
# update-alternatives would make (to the reference BLAS/LAPACK); absolute links to files in the
# bundle (libtirpc.so -> /lib/...) made relative, and relative links to files of the packages
# left out (gcc's libstdc++.so -> ../../../x86_64-linux-gnu/libstdc++.so.6) pointed at the
# node's own /usr/...; libc.so's linker script names libc_nonshared.a by its bare name (ld finds
# it through LIBRARY_PATH), not by an absolute /usr path that a node without libc6-dev lacks.
# Idempotent; when the set shrinks since an earlier run (newer versions in apt), the stale
# .debs go and root/ is unpacked afresh. The bundle is for Debian 12 nodes: its libraries are
# built against Debian 12's glibc.
set -euo pipefail
packages=(
  g++ make cmake pkg-config protobuf-compiler
  libtbb-dev libopencv-dev libyaml-cpp-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libprotobuf-dev libdeflate-dev libpng-dev
)
# In every node that runs torch already (see above).
runtime=(libc6 libgcc-s1 libstdc++6 zlib1g)

if [[ $# -ne 1 || $1 == -h || $1 == --help ]]; then
  echo "usage: scripts/gpu-deps-bundle.sh OUT_DIR   (on a connected Debian 12 machine with apt)" >&2
  exit 2
fi
for tool in apt-get apt-cache dpkg dpkg-deb; do
  if ! command -v "$tool" >/dev/null; then
    echo "gpu-deps-bundle: $tool not found: run this on a connected Debian 12 (bookworm) machine" \
         "with apt (it downloads .debs with apt-get download)" >&2
    exit 1
  fi
done
codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}") || codename=
if [[ $codename != bookworm ]]; then
  echo "gpu-deps-bundle: warning: this is ${codename:-not Debian} and not Debian 12 (bookworm);" \
       "the bundle holds this machine's apt versions" >&2
fi
mkdir -p "$1"
out=$(cd "$1" && pwd)
debs="$out/debs"
root="$out/root"
mkdir -p "$debs"
arch=$(dpkg --print-architecture)

if ! apt-cache show --no-all-versions "${packages[@]}" >/dev/null 2>&1; then
  echo "gpu-deps-bundle: apt knows none or not all of: ${packages[*]};" \
       "run apt-get update (as root) first" >&2
  exit 1
fi

# closure NAME...: NAME and what it Depends/Pre-Depends on, recursively, as described above.
closure() {
  local -A seen=()
  local queue=("$@") next=() p
  for p in "$@"; do seen[$p]=1; done
  while ((${#queue[@]})); do
    next=()
    while read -r p; do
      [[ -z ${seen[$p]:-} ]] || continue
      seen[$p]=1
      next+=("$p")
    done < <(apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks \
               --no-replaces --no-enhances "${queue[@]}" | awk '
      # " |Depends: a" then "  Depends: b" is a | b; a line of 4 spaces names a provider of
      # the dependency above it.
      function pick(  i) {
        if (n == 0) return
        for (i = 1; i <= n; i++) if (alt[i] !~ /^</) { print alt[i]; n = 0; return }
        for (i = 1; i <= n; i++) if (prov[i] != "") { print prov[i]; n = 0; return }
        n = 0
      }
      /^[^ ]/ { pick(); open = 0; next }
      /^ [ |][A-Za-z-]+: / {
        if (!open) pick()
        n++; alt[n] = $2; prov[n] = ""
        open = (substr($0, 2, 1) == "|")
        next
      }
      /^    / { if (n && prov[n] == "") prov[n] = $1 }
      END { pick() }')
    queue=("${next[@]}")
  done
  printf '%s\n' "${!seen[@]}" | grep -E '^[a-z0-9][a-z0-9+.-]*$' | sort
}
mapfile -t closure < <(closure "${packages[@]}")

# Name, version, architecture and priority of each one's candidate; those of the base dropped.
wanted=()       # name=version
files=()        # the .deb name apt-get download gives it
declare -A skip=()
for p in "${runtime[@]}"; do skip[$p]=1; done
dropped=0
while read -r name version parch priority; do
  if [[ -n ${skip[$name]:-} || $priority == required || $priority == important ]]; then
    dropped=$((dropped + 1))
    continue
  fi
  wanted+=("$name=$version")
  files+=("${name}_${version//:/%3a}_${parch}.deb")
done < <(apt-cache show --no-all-versions "${closure[@]}" 2>/dev/null | awk '
  /^Package:/ { n = $2; v = ""; a = ""; pr = "optional" }
  /^Version:/ { v = $2 }
  /^Architecture:/ { a = $2 }
  /^Priority:/ { pr = $2 }
  /^$/ { if (n != "") print n, v, a, pr; n = "" }
  END { if (n != "") print n, v, a, pr }')
if ((${#wanted[@]} + dropped != ${#closure[@]})); then
  echo "gpu-deps-bundle: apt has no candidate for $((${#closure[@]} - ${#wanted[@]} - dropped))" \
       "of the ${#closure[@]} packages; run apt-get update (as root)" >&2
  exit 1
fi
echo "gpu-deps-bundle: ${#closure[@]} packages in the closure, $dropped already in a minimal" \
     "base, ${#wanted[@]} to bundle ($arch)"

# Download what debs/ lacks, in a scratch folder so that an interrupted run leaves no partial
# .deb behind.
fetch=()
for i in "${!wanted[@]}"; do
  [[ -s $debs/${files[$i]} ]] || fetch+=("${wanted[$i]}")
done
if ((${#fetch[@]})); then
  echo "gpu-deps-bundle: downloading ${#fetch[@]} .debs"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  chmod 755 "$tmp"
  sandbox=()
  # As root apt would fetch as user _apt, who cannot write to the scratch folder.
  [[ $(id -u) -ne 0 ]] || sandbox=(-o APT::Sandbox::User=root)
  (cd "$tmp" && apt-get download -q "${sandbox[@]}" "${fetch[@]}")
  mv "$tmp"/*.deb "$debs"/
else
  echo "gpu-deps-bundle: all ${#wanted[@]} .debs already in $debs"
fi
for f in "${files[@]}"; do
  [[ -s $debs/$f ]] || { echo "gpu-deps-bundle: $f did not download" >&2; exit 1; }
done

# .debs of an earlier run that are not in the set now: removed, and root/ unpacked afresh.
declare -A current=()
for f in "${files[@]}"; do current[$f]=1; done
stale=0
for f in "$debs"/*.deb; do
  [[ -n ${current[$(basename "$f")]:-} ]] || { rm -f "$f"; stale=1; }
done
stamp="$out/.unpacked"
if ((stale)) || [[ ! -d $root ]]; then
  rm -rf "$root" "$stamp"
fi
mkdir -p "$root"
touch "$stamp"
declare -A unpacked=()
while read -r f; do unpacked[$f]=1; done <"$stamp"
n=0
for f in "${files[@]}"; do
  [[ -z ${unpacked[$f]:-} ]] || continue
  dpkg -x "$debs/$f" "$root"
  echo "$f" >>"$stamp"
  n=$((n + 1))
done
echo "gpu-deps-bundle: unpacked $n .debs into $root"

# What update-alternatives would have linked: the reference BLAS and LAPACK.
lib="$root/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)"
for l in blas/libblas.so.3 lapack/liblapack.so.3 blas/libblas.so lapack/liblapack.so; do
  if [[ -e $lib/$l && ! -e $lib/$(basename "$l") ]]; then
    ln -sfn "$l" "$lib/$(basename "$l")"
  fi
done
# Links: absolute ones to files in the bundle made relative; relative ones to files of the
# packages left out pointed at the node's own.
find "$root" -type l -print0 | while IFS= read -r -d '' l; do
  t=$(readlink "$l")
  if [[ $t == /* ]]; then
    [[ ! -e $root$t ]] || ln -sfnr "$root$t" "$l"
  elif [[ ! -e $l ]]; then
    abs=$(realpath -m "$(dirname "$l")/$t")
    [[ $abs != "$root"/* ]] || ln -sfn "${abs#"$root"}" "$l"
  fi
done
# Linker scripts (libc.so): absolute paths to files the bundle holds become bare names, which ld
# looks up in the library search path (LIBRARY_PATH): a node without libc6-dev lacks
# /usr/lib/x86_64-linux-gnu/libc_nonshared.a.
for s in "$lib"/*.so; do
  [[ -f $s && ! -L $s ]] || continue
  LC_ALL=C grep -q 'GNU ld script' <(head -c 200 "$s") || continue
  for path in $(grep -oE '/[^ ()]+' "$s" | sort -u); do
    if [[ -e $root$path ]]; then
      sed -i "s# $path # $(basename "$path") #g" "$s"
    fi
  done
done

printf '%s\n' "${wanted[@]}" >"$out/packages.txt"
size=$(du -sh "$root" | cut -f1)
echo "gpu-deps-bundle: ${#wanted[@]} packages ($size unpacked) in $root; list in $out/packages.txt"
echo "gpu-deps-bundle: carry $out to the node and run there:"
echo "  VSR_DEPS_ROOT=$root scripts/gpu-check.sh"
