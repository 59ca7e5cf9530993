# The documentation of every keystone.* option renders: each option has a description, and
# defaults and examples evaluate without a host (nixpkgs nixos/lib/make-options-doc).
{
  pkgs,
  lib,
  nixpkgs,
  keystoneModules,
}:
let
  eval = nixpkgs.lib.nixosSystem {
    modules = [
      keystoneModules.default
      { nixpkgs.hostPlatform = pkgs.stdenv.hostPlatform.system; }
    ];
  };
  doc = pkgs.nixosOptionsDoc {
    options = { inherit (eval.options) keystone; };
    # Declarations as repository paths, not store paths.
    transformOptions =
      option:
      option
      // {
        declarations = map (
          declaration: lib.removePrefix "${toString ../.}/" (toString declaration)
        ) option.declarations;
      };
    warningsAreErrors = true;
  };
in
pkgs.runCommand "eval-options-doc" { } ''
  mkdir -p $out
  cp ${doc.optionsCommonMark} $out/options.md
  grep -q 'keystone\.disk\.enable' $out/options.md
''
