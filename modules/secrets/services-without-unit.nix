# The services named by keystone.secrets that nothing in the configuration runs. modules/secrets
# adds a credential to each named service, and with the module system a definition of only
# `systemd.services.<name>.serviceConfig.LoadCredential` makes a unit of its own: a misspelt or
# absent service became a stub with no ExecStart= (systemd refuses to start it: "Service has no
# ExecStart=, ExecStop=, or SuccessAction=. Refusing.", systemd.service(5)), and the secret went
# nowhere. Builtins only, so that the tests evaluate it with the real nix-instantiate.
{
  # keystone.secrets: name -> { services = [ ... ]; ... }
  secrets,
  # config.systemd.services: name -> { script; serviceConfig; ... }
  services,
}:
let
  # nixpkgs' systemd.services.<name>.script (a string, "" when unset) becomes the ExecStart= of
  # the unit; otherwise serviceConfig.ExecStart is the command.
  runs =
    name:
    services ? ${name}
    && ((services.${name}.script or "") != "" || (services.${name}.serviceConfig or { }) ? ExecStart);
in
builtins.concatMap (
  secret:
  map (service: { inherit secret service; }) (
    builtins.filter (service: !runs service) secrets.${secret}.services
  )
) (builtins.attrNames secrets)
