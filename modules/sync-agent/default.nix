# The sync agent's settings, as `keystone generate` writes them from the host file's `sync`
# section. The options are declared now so that every generated host evaluates; the agent's
# systemd service is not part of this release, and enabling it says so instead of doing nothing
# silently.
{ config, lib, ... }:
let
  cfg = config.keystone.syncAgent;
in
{
  options.keystone.syncAgent = {
    enable = lib.mkEnableOption "the Keystone sync agent";

    store = lib.mkOption {
      type = lib.types.strMatching "(s3|file)://.+";
      example = "s3://fleet-backups/keystone";
      description = ''
        Where the encrypted repository lives: `s3://<bucket>/<prefix>` on any S3-compatible
        server, or `file:///<path>` for a local or mounted folder.
      '';
    };

    endpoint = lib.mkOption {
      type = lib.types.nullOr lib.types.str;
      default = null;
      example = "https://s3.example.org";
      description = "S3 endpoint URL; null means AWS. Ignored for file:// stores.";
    };

    region = lib.mkOption {
      type = lib.types.str;
      default = "us-east-1";
      example = "eu-central-1";
      description = "S3 region to sign requests for; self-hosted servers usually accept the default.";
    };

    pathStyle = lib.mkOption {
      type = lib.types.bool;
      default = true;
      example = false;
      description = ''
        Address buckets as `<endpoint>/<bucket>` instead of `<bucket>.<endpoint>`. Self-hosted
        servers (SeaweedFS, MinIO, Garage) need path style; turn it off for AWS.
      '';
    };

    paths = lib.mkOption {
      type = lib.types.listOf (
        lib.types.submodule {
          options = {
            path = lib.mkOption {
              type = lib.types.strMatching "/.*";
              example = "/var/lib/important";
              description = "An absolute directory to sync.";
            };
            mode = lib.mkOption {
              type = lib.types.enum [
                "backup"
                "two-way"
              ];
              default = "backup";
              example = "two-way";
              description = ''
                "backup" keeps versions of this host's files; "two-way" also brings in the other
                hosts' changes to the same path.
              '';
            };
          };
        }
      );
      default = [ ];
      example = [
        {
          path = "/var/lib/important";
          mode = "backup";
        }
      ];
      description = "Directories the agent keeps in the store.";
    };
  };

  config = lib.mkIf cfg.enable {
    warnings = [
      "keystone.syncAgent is enabled, but this Keystone release ships no agent service yet; nothing is synced."
    ];
  };
}
