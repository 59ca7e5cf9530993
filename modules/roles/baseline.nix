# The security baseline of every Keystone host, after nix-community/srvos nixos/common: SSH with
# keys only, a firewall, flakes, store maintenance. Opinions are mkDefault; only the SSH
# password ban is forced, because the fleet's whole access model rests on keys.
#
# Option names: nixpkgs nixos/modules/services/networking/ssh/sshd.nix (services.openssh.{enable,
# settings.PasswordAuthentication,KbdInteractiveAuthentication,PermitRootLogin,X11Forwarding}),
# nixos/modules/services/misc/nix-daemon.nix and nix-settings (nix.settings.*, nix.gc.*,
# nix.optimise.automatic), nixos/modules/security/sudo.nix (security.sudo.execWheelOnly),
# nixos/modules/services/networking/firewall.nix (networking.firewall.enable).
{ config, lib, ... }:
{
  config = lib.mkIf (config.keystone.role != null) {
    services.openssh = {
      enable = true;
      settings = {
        # Security invariant: a password is never a way in.
        PasswordAuthentication = lib.mkForce false;
        KbdInteractiveAuthentication = lib.mkForce false;
        # `keystone update` and `enroll` log in as root with an admin's key (ssh.user in the host
        # file), as nixos-anywhere and clan do; never with a password. A fleet that wants every
        # change under a name sets ssh.user to an admin (Keystone then uses sudo) and this to "no".
        PermitRootLogin = lib.mkDefault "prohibit-password";
        X11Forwarding = lib.mkDefault false;
      };
    };
    networking.firewall.enable = lib.mkDefault true;

    # Marks the machine as this Keystone host: `keystone deploy`'s preflight refuses to wipe a
    # host it reached at the address of another (nixpkgs nixos/modules/system/etc/etc.nix).
    environment.etc."keystone/host".text = config.networking.hostName;

    # Only wheel may run sudo at all, which removes sudo's attack surface for everyone else.
    security.sudo.execWheelOnly = lib.mkDefault true;

    nix.settings = {
      experimental-features = [
        "nix-command"
        "flakes"
      ];
      # Admins copy closures to the host (`nixos-rebuild --target-host`), which needs trust.
      trusted-users = [ "@wheel" ];
    };
    nix.gc = {
      automatic = lib.mkDefault true;
      dates = lib.mkDefault "weekly";
      options = lib.mkDefault "--delete-older-than 30d";
    };
    nix.optimise.automatic = lib.mkDefault true;
  };
}
