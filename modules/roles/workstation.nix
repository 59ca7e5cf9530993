# A desktop: Hyprland started from greetd's text greeter, PipeWire audio, NetworkManager, fonts.
# The security baseline (baseline.nix) still applies: SSH with keys only, the firewall on.
#
# Option names: nixpkgs nixos/modules/programs/wayland/hyprland.nix (programs.hyprland.enable),
# nixos/modules/services/display-managers/greetd.nix (services.greetd.{enable,settings}),
# nixos/modules/services/desktops/pipewire/pipewire.nix (services.pipewire.{enable,alsa.enable,
# pulse.enable}), nixos/modules/security/rtkit.nix (security.rtkit.enable),
# nixos/modules/services/networking/networkmanager.nix (networking.networkmanager.enable),
# nixos/modules/config/fonts/packages.nix (fonts.enableDefaultPackages).
{
  config,
  lib,
  pkgs,
  ...
}:
{
  config = lib.mkIf (config.keystone.role == "workstation") {
    programs.hyprland.enable = lib.mkDefault true;

    services.greetd = {
      enable = lib.mkDefault true;
      settings.default_session.command = lib.mkDefault "${lib.getExe pkgs.tuigreet} --time --cmd Hyprland";
    };

    # PipeWire asks rtkit for realtime scheduling to avoid audio dropouts.
    security.rtkit.enable = lib.mkDefault true;
    services.pipewire = {
      enable = lib.mkDefault true;
      alsa.enable = lib.mkDefault true;
      pulse.enable = lib.mkDefault true;
    };

    networking.networkmanager.enable = lib.mkDefault true;
    fonts.enableDefaultPackages = lib.mkDefault true;
  };
}
