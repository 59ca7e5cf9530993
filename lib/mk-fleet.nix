# Turns a fleet's hosts/ folder into nixosConfigurations: one per hosts/<name>/default.nix, the
# files `keystone generate` writes. Each host gets `keystoneModules` (this flake's nixosModules)
# as a module argument, which the generated default.nix imports.
#
#   outputs = { keystone, ... }: {
#     nixosConfigurations = keystone.lib.mkFleet { hosts = ./hosts; };
#   };
#
# nixosSystem and keystoneModules are bound by flake.nix; the function itself uses builtins only,
# so it is unit-tested with nix-instantiate alone (test/nix/lib.test.ts).
{ nixosSystem, keystoneModules }:
{
  # The folder holding <name>.yaml and <name>/default.nix per host.
  hosts,
  # Modules added to every host, e.g. site-wide settings.
  modules ? [ ],
  # Extra module arguments for every host.
  specialArgs ? { },
}:
let
  entries = builtins.readDir hosts;
  isHost =
    name: entries.${name} == "directory" && builtins.pathExists (hosts + "/${name}/default.nix");
  names = builtins.filter isHost (builtins.attrNames entries);
in
if !(builtins.pathExists hosts) then
  throw "keystone.lib.mkFleet: ${toString hosts} does not exist; pass the folder that holds your host files, e.g. mkFleet { hosts = ./hosts; }"
else
  builtins.listToAttrs (
    map (name: {
      inherit name;
      value = nixosSystem {
        specialArgs = specialArgs // {
          inherit keystoneModules;
        };
        modules = [ (hosts + "/${name}") ] ++ modules;
      };
    }) names
  )
