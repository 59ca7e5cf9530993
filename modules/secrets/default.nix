# Which service gets which secret. `keystone deploy` installs the host's secrets from the vault
# as root-only files under /var/lib/keystone/secrets (on the encrypted root, never in the Nix
# store); services read them only as systemd credentials, in $CREDENTIALS_DIRECTORY, so a value
# is never in a unit file, argv or the environment. After TPM enrollment a secret can be sealed
# to this host's TPM: the plaintext file is replaced by <file>.cred, which only this machine in
# its measured state decrypts.
#
# Option names: nixpkgs nixos/modules/system/boot/systemd.nix (systemd.services.<name>.
# serviceConfig, systemd.tmpfiles.rules); credentials: systemd man/systemd.exec.xml
# (LoadCredential=, LoadCredentialEncrypted=), man/systemd-creds.xml (encrypt --with-key=tpm2).
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.keystone.secrets;
  sealed = lib.filterAttrs (_: secret: secret.sealWithTpm) cfg;

  loadFor =
    service:
    let
      mine = lib.filterAttrs (_: secret: lib.elem service secret.services) cfg;
      plain = lib.filterAttrs (_: secret: !secret.sealWithTpm) mine;
      tpm = lib.filterAttrs (_: secret: secret.sealWithTpm) mine;
    in
    {
      serviceConfig = {
        LoadCredential = lib.mapAttrsToList (_: secret: "${secret.credential}:${secret.file}") plain;
        LoadCredentialEncrypted = lib.mapAttrsToList (
          _: secret: "${secret.credential}:${secret.file}.cred"
        ) tpm;
      };
    }
    // lib.optionalAttrs (tpm != { }) {
      requires = [ "keystone-seal-secrets.service" ];
      after = [ "keystone-seal-secrets.service" ];
    };

  services = lib.unique (lib.concatMap (secret: secret.services) (lib.attrValues cfg));
  withoutUnit = import ./services-without-unit.nix {
    secrets = cfg;
    services = config.systemd.services;
  };

  # Seals each secret that has a fresh plaintext copy (a deploy installed it) and removes the
  # plaintext, so only the TPM-bound .cred stays on disk.
  sealScript = lib.concatStrings (
    lib.mapAttrsToList (_: secret: ''
      if [ -e ${lib.escapeShellArg secret.file} ]; then
        systemd-creds encrypt --with-key=tpm2 --name=${lib.escapeShellArg secret.credential} \
          ${lib.escapeShellArg secret.file} ${lib.escapeShellArg "${secret.file}.cred"}
        shred --remove ${lib.escapeShellArg secret.file}
      fi
    '') sealed
  );
in
{
  options.keystone.secrets = lib.mkOption {
    type = lib.types.attrsOf (
      lib.types.submodule (
        { name, ... }:
        {
          options = {
            file = lib.mkOption {
              type = lib.types.strMatching "/.*";
              default = "/var/lib/keystone/secrets/${name}";
              defaultText = lib.literalExpression ''"/var/lib/keystone/secrets/<name>"'';
              example = "/var/lib/keystone/secrets/fleet/s3-backup";
              description = ''
                Where `keystone deploy` installs the secret on the host: host secrets
                (secrets/<host>/<name> in the vault) by name, fleet secrets under fleet/.
              '';
            };
            services = lib.mkOption {
              type = lib.types.listOf lib.types.str;
              default = [ ];
              example = [ "keystone-sync-agent" ];
              description = "systemd services (without .service) that receive the secret as a credential.";
            };
            credential = lib.mkOption {
              type = lib.types.strMatching "[A-Za-z0-9_.-]+";
              default = name;
              defaultText = lib.literalExpression "<name>";
              example = "s3-credentials";
              description = "The credential's name: the service reads $CREDENTIALS_DIRECTORY/<credential>.";
            };
            sealWithTpm = lib.mkOption {
              type = lib.types.bool;
              default = false;
              example = true;
              description = ''
                Seal the secret to this host's TPM after deploy and keep only the sealed copy.
                Turn on once `keystone enroll` has run; a replaced TPM then needs a new deploy.
              '';
            };
          };
        }
      )
    );
    default = { };
    example = lib.literalExpression ''
      {
        s3-backup = {
          file = "/var/lib/keystone/secrets/fleet/s3-backup";
          services = [ "keystone-sync-agent" ];
        };
      }
    '';
    description = "Secrets from the vault and the services that load them as systemd credentials.";
  };

  config = lib.mkIf (cfg != { }) {
    assertions = map (missing: {
      assertion = false;
      message = ''
        keystone.secrets.${missing.secret}.services names "${missing.service}", but no
        systemd.services.${missing.service} runs anything (no script, no ExecStart) in this
        configuration. Name the service that reads the secret, without ".service", e.g.
        keystone.secrets.${missing.secret}.services = [ "keystone-sync-agent" ];
      '';
    }) withoutUnit ++ [
      {
        assertion = sealed == { } || config.keystone.tpm.enable or false;
        message = ''
          keystone.secrets: sealing with the TPM needs TPM support. Set keystone.tpm.enable = true;
          (tpm.enable in the host file), or keystone.secrets.<name>.sealWithTpm = false;
        '';
      }
    ];

    systemd.tmpfiles.rules = [ "d /var/lib/keystone/secrets 0700 root root -" ];

    systemd.services = lib.genAttrs services loadFor // lib.optionalAttrs (sealed != { }) {
      keystone-seal-secrets = {
        description = "Seal deployed secrets to the TPM";
        wantedBy = [ "multi-user.target" ];
        serviceConfig = {
          Type = "oneshot";
          RemainAfterExit = true;
        };
        path = [
          config.systemd.package
          pkgs.coreutils
        ];
        script = ''
          set -euo pipefail
          ${sealScript}
        '';
      };
    };
  };
}
