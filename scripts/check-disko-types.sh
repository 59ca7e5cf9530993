#!/usr/bin/env bash
# Proves that generated hosts/*/disko.nix files are accepted by disko's own type system and
# evaluate to the Keystone layout, using nixpkgs' `lib` only (no pkgs, no NixOS, no network).
#
#   scripts/check-disko-types.sh --disko <disko source dir> --nixpkgs-lib <nixpkgs lib source dir>
#                                [--keep <dir>] [host dir or disko.nix …]
#
# --disko        a checkout of nix-community/disko (holds lib/default.nix and lib/types/)
# --nixpkgs-lib  a checkout of nixpkgs or nix-community/nixpkgs.lib (holds lib/default.nix),
#                or that lib/ directory itself
# --keep         also write each host's evaluation (JSON) and scripts there
# Without host arguments every hosts/*/disko.nix of this repository is checked.
#
# For each host, scripts/check-disko-types.nix runs disko's evaluation with `nix-instantiate --eval
# --strict --readonly-mode` (nothing is built, fetched or written to the store) and forces the
# typed values, the derived NixOS config and the create/mount/unmount/destroy scripts; its layout
# checks are printed here. Then the create and mount scripts are grepped for the commands and
# their order, syntax-checked with `bash -n`, and run through shellcheck with the exclusions
# disko's own `checkScripts` uses (disko lib/default.nix:575-593).
set -euo pipefail

usage() {
  sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
}

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
helper=$here/check-disko-types.nix

disko=
nixpkgs_lib=
keep=
hosts=()
while (($#)); do
  case $1 in
    --disko) disko=${2:?--disko needs a directory}; shift 2 ;;
    --nixpkgs-lib) nixpkgs_lib=${2:?--nixpkgs-lib needs a directory}; shift 2 ;;
    --keep) keep=${2:?--keep needs a directory}; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    -*) echo "check-disko-types: unknown option $1" >&2; usage >&2; exit 2 ;;
    *) hosts+=("$1"); shift ;;
  esac
done

[[ -n $disko && -n $nixpkgs_lib ]] || { usage >&2; exit 2; }
[[ -f $disko/lib/default.nix && -f $disko/lib/types/zpool.nix ]] ||
  { echo "check-disko-types: $disko is not a disko checkout (no lib/types/zpool.nix)" >&2; exit 2; }
disko=$(cd "$disko" && pwd)
# Accept the repository root or its lib/ directory; the helper wants the directory holding lib/.
if [[ -f $nixpkgs_lib/lib/modules.nix ]]; then
  nixpkgs_lib=$(cd "$nixpkgs_lib" && pwd)
elif [[ -f $nixpkgs_lib/modules.nix && $(basename "$(cd "$nixpkgs_lib" && pwd)") == lib ]]; then
  nixpkgs_lib=$(cd "$nixpkgs_lib/.." && pwd)
else
  echo "check-disko-types: $nixpkgs_lib holds no nixpkgs lib (lib/modules.nix)" >&2
  exit 2
fi
for tool in nix-instantiate node; do
  command -v "$tool" >/dev/null || { echo "check-disko-types: $tool is required" >&2; exit 2; }
done

if ((${#hosts[@]} == 0)); then
  shopt -s nullglob
  hosts=("$repo"/hosts/*/disko.nix)
  shopt -u nullglob
  ((${#hosts[@]})) || { echo "check-disko-types: no hosts/*/disko.nix in $repo" >&2; exit 2; }
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

failures=0
host_fail=0
fail() {
  echo "  FAIL $*"
  host_fail=1
}
pass() {
  echo "  ok   $*"
}

# line_of FILE EXTENDED-REGEX: number of the first matching line, or 0.
line_of() {
  local n
  n=$(grep -n -m1 -E -e "$2" "$1" | cut -d: -f1 || true)
  echo "${n:-0}"
}

# expect_before FILE DESCRIPTION REGEX… : every REGEX matches, each on a later line than the one before.
expect_before() {
  local file=$1 what=$2 previous=0 line regex
  shift 2
  for regex in "$@"; do
    line=$(line_of "$file" "$regex")
    if ((line == 0)); then
      fail "$what: no line matches /$regex/"
      return
    fi
    if ((line <= previous)); then
      fail "$what: /$regex/ (line $line) is not after line $previous"
      return
    fi
    previous=$line
  done
  pass "$what"
}

# expect_count FILE DESCRIPTION COUNT REGEX
expect_count() {
  local got
  got=$(grep -c -E -e "$4" "$1" || true)
  if ((got == $3)); then pass "$2 ($got)"; else fail "$2: expected $3 lines matching /$4/, got $got"; fi
}

# Reads the helper's JSON: prints the summary and the layout checks, writes the scripts to
# <dir>/<name>.sh and the facts the greps below need to <dir>/facts. Exits 1 if a check failed.
# shellcheck disable=SC2016 # JavaScript, not shell: nothing in it is meant to expand.
read_report='
const fs = require("fs");
const [json, dir] = process.argv.slice(1);
const r = JSON.parse(fs.readFileSync(json, "utf8"));
for (const line of r.summary) console.log("  | " + line);
console.log("  | tools the scripts call (_packages): " + r.packages.join(" "));
for (const [name, text] of Object.entries(r.scripts)) fs.writeFileSync(`${dir}/${name}.sh`, "#!/usr/bin/env bash\n" + text);
const pools = Object.values(r.zpools);
const pool = pools[0] || { name: "", datasets: {} };
const luks = (pool.datasets.credstore || {}).content || {};
const parts = Object.values(r.disks).flatMap((d) => d.partitions);
fs.writeFileSync(`${dir}/facts`, [pools.length, pool.name, Object.keys(r.disks).length, parts.length,
  parts.filter((p) => p.name === "esp").length, parts.filter((p) => p.name === "swap").length,
  luks.passwordFile || "-"].join(" ") + "\n");
let failed = 0;
for (const c of r.checks) {
  console.log(`  ${c.ok ? "ok  " : "FAIL"} ${c.name}${c.ok ? "" : ": " + c.detail}`);
  if (!c.ok) failed++;
}
process.exit(failed ? 1 : 0);
'

# host_file ARG: the disko.nix an argument names (a host directory or the file itself).
host_file() {
  if [[ -d $1 ]]; then echo "$1/disko.nix"; else echo "$1"; fi
}

check_host() {
  local file name dir
  file=$(host_file "$1")
  [[ -f $file ]] || { echo "== $1"; fail "no disko.nix"; return; }
  file=$(cd "$(dirname "$file")" && pwd)/$(basename "$file")
  name=$(basename "$(dirname "$file")")
  dir=$work/$name
  mkdir -p "$dir"
  echo "== $name ($file)"

  if ! nix-instantiate --eval --strict --json --readonly-mode "$helper" \
    --argstr diskoSrc "$disko" --argstr nixpkgsLib "$nixpkgs_lib" --argstr hostFile "$file" \
    >"$dir/eval.json" 2>"$dir/eval.err"; then
    sed 's/^/  | /' "$dir/eval.err"
    fail "evaluation of $file failed: disko's types or the NixOS options its _config sets reject it (see above)"
    return
  fi
  pass "accepted by disko's types; typed values, _config, _meta, _packages and scripts evaluate"
  node -e "$read_report" "$dir/eval.json" "$dir" || host_fail=1

  local pools pool disks parts esps swaps password_file
  read -r pools pool disks parts esps swaps password_file <"$dir/facts"
  if ((pools != 1)); then
    fail "expected exactly one zpool, got $pools"
    return
  fi

  local create=$dir/create.sh mount=$dir/mount.sh script
  # Partitioning (gpt.nix:279-340): one `sgdisk --new` per partition, ESP first as EF00, swap as 8200.
  expect_count "$create" "sgdisk --clear once per disk" "$disks" '^ *sgdisk --clear '
  expect_count "$create" "sgdisk --new once per partition" "$parts" '^ *--new=[0-9]+:'
  expect_count "$create" "ESPs created as partition 1, type EF00" "$esps" '^ *--new=1:0:\+[0-9]+[KMGT]'
  expect_count "$create" "ESP typecodes (EF00, twice each: create and fallback)" $((2 * esps)) '^ *--typecode=1:EF00 '
  expect_count "$create" "swap typecodes (8200, twice each)" $((2 * swaps)) '^ *--typecode=[0-9]+:8200 '
  expect_count "$create" "mkfs.vfat once per ESP" "$esps" '^ *mkfs\.vfat '
  # swap.nix:332-342: a random-key swap is not formatted at install time (NixOS does it each boot).
  expect_count "$create" "no mkswap (random-key swap)" 0 '^ *mkswap'
  expect_count "$create" "zpool create" 1 "^ *zpool create -f \"$pool\" "
  # The credstore zvol, its LUKS header keyed from the passwordFile, ext4 inside, then the
  # encrypted dataset created between the crypt hooks (lib/default.nix:488-514 puts
  # preCreateHook before and postCreateHook after the node's own commands).
  expect_count "$create" "luksFormat reads the passwordFile without tracing it" 1 \
    "^ *cryptsetup -q luksFormat \"/dev/zvol/$pool/credstore\" +--key-file <\(set \+x; echo -n \"\\\$\(cat $password_file\)\"; set -x\)"
  expect_count "$create" "crypt created with aes-256-gcm, raw key from /etc/credstore" 1 \
    '^ *-o encryption=aes-256-gcm -o keyformat=raw -o keylocation=file:///etc/credstore/[^ ]+ -o mountpoint=none$'
  expect_before "$create" "create order: pool, credstore zvol, LUKS, ext4, hook mount, crypt, hook close, system" \
    "^ *zpool create -f \"$pool\"" \
    "^ *zfs create \"$pool/credstore\"" \
    "^ *-V [0-9]+[KMGT] *$" \
    "^ *cryptsetup -q luksFormat \"/dev/zvol/$pool/credstore\"" \
    '^ *cryptsetup open "/dev/zvol/[^"]+/credstore" "credstore"' \
    '^ *mkfs\.ext4 ' \
    '^ *"/dev/mapper/credstore"$' \
    'mount .*/dev/mapper/credstore /etc/credstore' \
    "^ *install -m 0400 [^ ]+ /etc/credstore/" \
    "^ *zfs create -up \"$pool/crypt\" " \
    'umount /etc/credstore' \
    'cryptsetup (luksClose /dev/mapper/credstore|close credstore)' \
    "^ *zfs create -up \"$pool/crypt/system\" " \
    "^ *zfs create -up \"$pool/crypt/system/nix\" " \
    "^ *zfs create -up \"$pool/crypt/system/var\" "
  # A re-run of the format phase must not replace the key of an existing encrypted dataset.
  local install_line guard_line
  install_line=$(line_of "$create" '^ *install -m 0400 [^ ]+ /etc/credstore/')
  guard_line=$(line_of "$create" "^ *if ! zfs get type \"?$pool/crypt\"? >/dev/null 2>&1; then\$")
  if ((install_line > 0 && guard_line == install_line - 1)); then
    pass "the ZFS key is written into the credstore only when $pool/crypt does not exist yet"
  else
    fail "the ZFS key install (line $install_line) is not guarded by 'if ! zfs get type $pool/crypt' (line $guard_line)"
  fi
  local crypt_line other_line
  crypt_line=$(line_of "$create" "^ *zfs create -up \"$pool/crypt\" ")
  other_line=$(grep -n -E "^ *zfs create -up \"$pool/crypt/" "$create" | head -n1 | cut -d: -f1)
  if ((crypt_line > 0 && ${other_line:-0} > crypt_line)); then
    pass "every dataset below crypt is created after it"
  else
    fail "a dataset below crypt is created before $pool/crypt (line ${other_line:-?} vs $crypt_line)"
  fi

  # Mount order (lib/default.nix:1021-1060): pool imported, credstore opened, key loaded, then /
  # before everything below it.
  # The credstore must be closed again before anything is mounted: an open LUKS device on the
  # zvol keeps the pool busy, and nixos-anywhere's `zpool export -a || true` would then fail.
  expect_before "$mount" "mount order: import, credstore open, load-key, credstore closed, then /" \
    "^ *zpool import -l -R [^ ]+ \"$pool\"" \
    '^ *cryptsetup open "/dev/zvol/[^"]+/credstore" "credstore"' \
    "^ *zfs load-key $pool/crypt$" \
    'cryptsetup (luksClose /dev/mapper/credstore|close credstore)' \
    "^ *mount $pool/crypt/system \"[^\"]*/\" "
  local root_line nested
  root_line=$(line_of "$mount" "^ *mount $pool/crypt/system \"[^\"]*/\" ")
  nested=$(grep -n -E '^ *mount [^ ]+ "[^"]+/[^"]+" ' "$mount" | head -n1 | cut -d: -f1)
  if ((root_line > 0 && ${nested:-0} > root_line)); then pass "/ is mounted before every other mountpoint"; else fail "a filesystem is mounted before /"; fi
  expect_count "$mount" "ESPs mounted with umask=0077" "$esps" "^ *-o 'umask=0077' *\\\\\$"

  for script in create mount unmount destroy; do
    if bash -n "$dir/$script.sh" 2>"$dir/$script.bash-n"; then
      pass "$script script: bash -n"
    else
      fail "$script script: bash -n: $(head -n3 "$dir/$script.bash-n")"
    fi
    if command -v shellcheck >/dev/null; then
      if shellcheck -s bash -e SC2034,SC2054 "$dir/$script.sh" >"$dir/$script.shellcheck"; then
        pass "$script script: shellcheck -e SC2034,SC2054 (disko checkScripts)"
      else
        fail "$script script: shellcheck: $(grep -m3 -E '^In |SC[0-9]+' "$dir/$script.shellcheck" | tr '\n' ' ')"
      fi
    fi
  done
}

for host in "${hosts[@]}"; do
  host_fail=0
  check_host "$host"
  if [[ -n $keep ]]; then
    name=$(basename "$(dirname "$(host_file "$host")")")
    if [[ -d $work/$name ]]; then mkdir -p "$keep" && cp -r "$work/$name" "$keep/"; fi
  fi
  if ((host_fail)); then failures=$((failures + 1)); fi
done

if ((failures)); then
  echo "check-disko-types: $failures of ${#hosts[@]} host(s) failed"
  exit 1
fi
echo "check-disko-types: ${#hosts[@]} host(s) accepted by disko's types and laid out as expected"
