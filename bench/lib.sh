# Shared by the benchmarks: sourced, not run.
# paks_dir DIR: where prepare_debian_paks puts the .pak files for $PAKS_COMPRESSION
# (DIR/paks for gzip, the default; DIR/paks-zstd for zstd).
paks_dir() {
  local comp="${PAKS_COMPRESSION:-gzip}"
  if [ "$comp" = gzip ]; then echo "$1/paks"; else echo "$1/paks-$comp"; fi
}

# prepare_debian_paks DIR: $(paks_dir DIR)/*.pak, one package per Debian .deb in the closure
# of python3, git, curl, gcc-12, g++-12, cmake and a few tools (>= 150 packages), built once,
# with the layer compression $PAKS_COMPRESSION (gzip unless set).
prepare_debian_paks() {
  local work="$1"
  local out; out=$(paks_dir "$work")
  mkdir -p "$work/debs" "$work/recipes" "$out"
  local roots="python3 git curl gcc-12 g++-12 cmake make patch file xz-utils bzip2 openssl wget rsync less gnupg procps ca-certificates nano vim-tiny tzdata python3-pip"
  # The format tag changes when `paks build` writes packages differently (v2: configs
  # list their contents), so that an old build of the closure is not reused.
  local debs_mark=".done-$(echo "$roots" | sha1sum | cut -c1-8)"
  local mark=".done-$(echo "$roots format-v2" | sha1sum | cut -c1-8)"
  # 1. The packages: Debian's, fetched once (apt-get download; kept in $work/debs).
  if [ ! -f "$work/debs/$debs_mark" ]; then
    names=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
              --no-replaces --no-enhances $roots | grep -v '^ ' | grep -v '^<' | sort -u)
    (cd "$work/debs" && apt-get download $names >/dev/null 2>&1 || true)
    touch "$work/debs/$debs_mark"
  fi
  
  # 2. One recipe per .deb whose content is copied into $PREFIX; absolute symlinks (which no
  #    relocatable package may hold) are dropped, as is what a .deb keeps outside /usr, /etc, /lib.
  if [ ! -f "$out/$mark" ]; then
    rm -rf "$work/recipes" "$out" && mkdir -p "$work/recipes" "$out"
    for deb in "$work"/debs/*.deb; do
      name=$(dpkg-deb -f "$deb" Package | tr 'A-Z_' 'a-z-')
      dir="$work/recipes/$name"
      mkdir -p "$dir/tree"
      dpkg-deb -x "$deb" "$dir/tree"
      find "$dir/tree" -type l -lname '/*' -delete
      # Relative links that climb out of the package are dropped too.
      find "$dir/tree" -type l | while read -r l; do
        t=$(readlink -m "$l"); case "$t" in "$dir/tree"/*) ;; *) rm -f "$l";; esac
      done
      [ -n "$(find "$dir/tree" -type f -print -quit)" ] || { rm -rf "$dir"; continue; }
      cat > "$dir/paks.toml" <<TOML
  [package]
  name = "$name"
  version = "1.0.0"
  [[source]]
  path = "tree"
  [build]
  script = 'cp -a . "\$PREFIX/"'
TOML
    done
    export PAKS_ROOT="$work/build-root"
    for dir in "$work"/recipes/*/; do
      "$paks" build "$dir" --out "$out" --no-install --quiet \
        --compression "${PAKS_COMPRESSION:-gzip}" >/dev/null
    done
    touch "$out/$mark"
  fi
}

# paks_binary BENCH: sets $paks, the binary to measure: $PAKS (a prebuilt one, to compare two
# builds without rebuilding) or else a release build of this working tree.
paks_binary() {
  if [ -n "${PAKS:-}" ]; then
    paks=$(realpath "$PAKS")
    [ -x "$paks" ] || { echo "$1: PAKS=\`$PAKS\` is not an executable" >&2; exit 1; }
  else
    cargo build --release --quiet -p paks-cli
    paks="$PWD/target/release/paks"
  fi
}

now() { date +%s%N; }

# median N...: the median of the numbers given.
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2)? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# ratio A B: A/B with three decimals.
ratio() { python3 -c "print(f'{$1/$2:.3f}')"; }
