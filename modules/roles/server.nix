# A headless server, after nix-community/srvos nixos/server: no documentation or fonts, no
# emergency shell on the console, watchdogs that reboot a hung machine.
#
# Option names: nixpkgs nixos/modules/misc/documentation.nix (documentation.enable),
# nixos/modules/config/fonts/fontconfig.nix (fonts.fontconfig.enable),
# nixos/modules/system/boot/systemd.nix (systemd.enableEmergencyMode, systemd.settings.Manager),
# nixos/modules/services/x11/xserver.nix (services.xserver.enable).
{ config, lib, ... }:
{
  config = lib.mkIf (config.keystone.role == "server") {
    documentation.enable = lib.mkDefault false;
    fonts.fontconfig.enable = lib.mkDefault false;
    services.xserver.enable = lib.mkDefault false;

    # A server nobody sits at must not stop in an emergency shell waiting for a console login;
    # it keeps booting so that it stays reachable over SSH.
    systemd.enableEmergencyMode = lib.mkDefault false;

    # Reboot a machine whose kernel or systemd hangs instead of leaving it dead until someone
    # notices (srvos nixos/server: RuntimeWatchdogSec, RebootWatchdogSec).
    systemd.settings.Manager = {
      RuntimeWatchdogSec = lib.mkDefault "15s";
      RebootWatchdogSec = lib.mkDefault "30s";
    };
  };
}
