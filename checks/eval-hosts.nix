# Every host of the fleet evaluates to a complete system: its toplevel derivation is
# instantiated (all module assertions and option types are checked), not built.
{
  pkgs,
  lib,
  nixosConfigurations,
}:
let
  drvPaths = lib.mapAttrsToList (
    name: host:
    "${name} ${builtins.unsafeDiscardStringContext host.config.system.build.toplevel.drvPath}"
  ) nixosConfigurations;
in
pkgs.runCommand "eval-hosts" { } ''
  cat > $out <<'LIST'
  ${lib.concatStringsSep "\n" drvPaths}
  LIST
''
