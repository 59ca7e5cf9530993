#!/usr/bin/env bash
# Make Debian's nix-bin usable as root with no daemon and no network: no build users, flakes on,
# no substituters (each command would otherwise retry the public cache), and a local empty flake
# registry (an empty `flake-registry =` value is not accepted).
set -euo pipefail

conf_dir=/etc/nix
registry=$conf_dir/keystone-empty-registry.json
mkdir -p "$conf_dir"
printf '{"version":2,"flakes":[]}\n' >"$registry"
cat >"$conf_dir/nix.conf" <<CONF
build-users-group =
experimental-features = nix-command flakes
substituters =
flake-registry = $registry
sandbox = false
CONF
