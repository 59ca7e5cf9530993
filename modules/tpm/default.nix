# TPM2 unlock of the credstore: the initrd tries the TPM first (crypttab `tpm2-device=auto`) and
# falls back to the passphrase or recovery key. Enrollment itself (systemd-cryptenroll
# --tpm2-pcrs=<pcrs> plus a recovery key) runs after the first boot, from `keystone enroll`,
# because PCRs bind to the installed system, not to the installer.
#
# Option names: nixpkgs nixos/modules/system/boot/luksroot.nix
# (boot.initrd.luks.devices.<name>.crypttabExtraOpts), nixos/modules/system/boot/systemd/tpm2.nix
# (boot.initrd.systemd.tpm2.enable), nixos/modules/security/tpm2.nix (security.tpm2.enable);
# crypttab options from systemd man/crypttab.xml (tpm2-device=, tpm2-measure-pcr=).
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.keystone.tpm;
  pool = config.keystone.disk.pool or "rpool";
  pcrsArg = import ../../lib/tpm-pcrs.nix cfg.pcrs;

  status = pkgs.writeShellApplication {
    name = "keystone-tpm-status";
    runtimeInputs = [
      pkgs.coreutils
      pkgs.cryptsetup
      pkgs.jq
    ];
    text = ''
      export KEYSTONE_CREDSTORE="''${KEYSTONE_CREDSTORE:-${cfg.credstoreDevice}}"
      export KEYSTONE_TPM_PCRS="''${KEYSTONE_TPM_PCRS:-${pcrsArg}}"
    ''
    + builtins.readFile ./keystone-tpm-status.sh;
  };
in
{
  options.keystone.tpm = {
    enable = lib.mkEnableOption "unlocking the credstore with the TPM2 chip";

    pcrs = lib.mkOption {
      type = lib.types.nonEmptyListOf (lib.types.ints.between 0 23);
      default = [
        1
        7
      ];
      example = [ 7 ];
      description = ''
        PCRs the TPM policy binds to. 7 (Secure Boot state and keys) is the usual anchor; 1
        (firmware configuration) also catches a changed boot order but breaks unlock after
        hardware or firmware-setting changes, after which the recovery key is needed once and
        `keystone enroll` binds again. Avoid 0 and 2, which change with every firmware update
        (systemd-cryptenroll(1)).
      '';
    };

    pcrsArg = lib.mkOption {
      type = lib.types.str;
      readOnly = true;
      default = pcrsArg;
      defaultText = lib.literalExpression ''"1+7"'';
      description = "The PCR list as systemd-cryptenroll --tpm2-pcrs= takes it; read by `keystone enroll`.";
    };

    credstoreDevice = lib.mkOption {
      type = lib.types.str;
      default = "/dev/zvol/${pool}/credstore";
      defaultText = lib.literalExpression ''"/dev/zvol/''${config.keystone.disk.pool}/credstore"'';
      example = "/dev/zvol/tank/credstore";
      description = "The LUKS volume the TPM unlocks; change it only for a layout Keystone did not generate.";
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = [
      {
        assertion = config.boot.initrd.systemd.enable;
        message = ''
          keystone.tpm: TPM unlock in the initrd needs systemd there. Set:
          boot.initrd.systemd.enable = true;
        '';
      }
    ];

    # TPM first, then the passphrase or recovery key (credstore-crypttab-options.nix says why).
    boot.initrd.luks.devices.credstore.crypttabExtraOpts = import ./credstore-crypttab-options.nix;
    boot.initrd.systemd.tpm2.enable = true;
    security.tpm2.enable = true;

    environment.systemPackages = [
      status
      pkgs.tpm2-tools
    ];
  };
}
