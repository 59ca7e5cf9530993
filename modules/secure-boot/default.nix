# Secure Boot with Lanzaboote: signed unified kernel images on the ESP, keys in /var/lib/sbctl.
# Keys are either provided (`keystone deploy` generates them on the admin's machine, keeps them in
# the vault and installs them; `keystone enroll` enrolls them) or generated and enrolled by the
# host itself on first boot (trust on first use).
#
# Option names: nix-community/lanzaboote nix/modules/lanzaboote.nix @ f142433
# (boot.lanzaboote.{enable,pkiBundle,extraEfiSysMountPoints,autoGenerateKeys.enable,
# autoEnrollKeys.{enable,autoReboot,includeMicrosoftKeys}}); the pkiBundle path and the
# systemd-boot override from its docs/getting-started/prepare-your-system.md.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.keystone.secureBoot;
  espMountPoints = config.keystone.disk.espMountPoints or [ "/boot" ];
in
{
  options.keystone.secureBoot = {
    enable = lib.mkEnableOption "UEFI Secure Boot with Lanzaboote";

    keys = lib.mkOption {
      type = lib.types.enum [
        "provided"
        "first-boot"
      ];
      default = "provided";
      example = "first-boot";
      description = ''
        Where the Secure Boot keys come from. "provided": `keystone deploy` installs keys made on
        the admin's machine (kept in the vault) into /var/lib/sbctl, and `keystone enroll`
        enrolls them while the firmware is in Setup Mode. "first-boot": the host generates its
        own keys and has systemd-boot enroll them at the next boot, for machines Keystone never
        held keys for; the firmware must be in Setup Mode.
      '';
    };

    microsoftKeys = lib.mkOption {
      type = lib.types.bool;
      default = true;
      example = false;
      description = ''
        Keep Microsoft's certificates in the signature database. Option ROMs of many graphics
        and network cards are signed only by Microsoft: without them such a machine may not
        show a screen or boot at all. Turn off only on hardware known to need none.
      '';
    };

    pkiBundle = lib.mkOption {
      type = lib.types.str;
      default = "/var/lib/sbctl";
      readOnly = true;
      description = "Where the Secure Boot keys live on the host (sbctl's default key directory).";
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = [
      {
        # lanzaboote refuses auto-enrollment without Microsoft keys unless told it may brick the
        # machine (nix/modules/lanzaboote.nix assertions).
        assertion = cfg.keys != "first-boot" || cfg.microsoftKeys;
        message = ''
          keystone.secureBoot: enrolling keys on first boot without Microsoft's certificates can
          leave a machine without a working display or boot device. Keep them:
          keystone.secureBoot.microsoftKeys = true;
        '';
      }
    ];

    boot.lanzaboote = {
      enable = true;
      pkiBundle = cfg.pkiBundle;
      # Every mirror disk carries a signed copy, so either disk boots alone.
      extraEfiSysMountPoints = lib.drop 1 espMountPoints;
      autoGenerateKeys.enable = cfg.keys == "first-boot";
      autoEnrollKeys = lib.mkIf (cfg.keys == "first-boot") {
        enable = true;
        includeMicrosoftKeys = cfg.microsoftKeys;
        autoReboot = lib.mkDefault true;
      };
    };

    # Lanzaboote installs systemd-boot and signs the images itself; the stock systemd-boot
    # installer would overwrite them with unsigned ones. A security invariant, hence mkForce
    # (lanzaboote docs/getting-started/prepare-your-system.md).
    boot.loader.systemd-boot.enable = lib.mkForce false;

    environment.systemPackages = [ pkgs.sbctl ];
  };
}
