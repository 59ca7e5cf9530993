# The fleet's private network: Tailscale clients joined to the fleet's own Headscale login
# server, which one host may run. The pre-auth key is installed at deploy into a root-only file
# and reaches `tailscale up` only as a systemd credential of the unit that runs it.
#
# Option names: nixpkgs nixos/modules/services/networking/tailscale.nix (services.tailscale.
# {enable,authKeyFile,extraUpFlags,openFirewall}; the tailscaled-autoconnect.service it creates
# when authKeyFile is set), nixos/modules/services/networking/headscale.nix (services.headscale.
# {enable,address,port,settings.server_url,settings.dns.base_domain}),
# nixos/modules/services/networking/firewall.nix (networking.firewall.trustedInterfaces).
{ config, lib, ... }:
let
  cfg = config.keystone.mesh;
  credential = "mesh-auth-key";
in
{
  options.keystone.mesh = {
    enable = lib.mkEnableOption "joining the fleet's Tailscale mesh";

    loginServer = lib.mkOption {
      type = lib.types.nullOr (lib.types.strMatching "https?://.+");
      default = null;
      example = "https://headscale.example.org";
      description = "URL of the fleet's Headscale server (`tailscale up --login-server`); set from `mesh.loginServer`.";
    };

    tags = lib.mkOption {
      type = lib.types.listOf (lib.types.strMatching "tag:[a-z0-9-]+");
      default = [ ];
      example = [ "tag:server" ];
      description = ''
        ACL tags this host asks for (`--advertise-tags`). The Headscale policy must let the
        pre-auth key's user own them, or joining fails.
      '';
    };

    authKeyCredential = lib.mkOption {
      type = lib.types.str;
      default = "/var/lib/keystone/secrets/mesh-auth-key";
      example = "/etc/credstore/mesh-auth-key";
      description = ''
        Root-only file on the host holding the pre-auth key, installed by `keystone deploy` from
        the vault. It is handed to Tailscale as a systemd credential; until it exists the host
        does not try to join.
      '';
    };

    server = lib.mkOption {
      type = lib.types.bool;
      default = false;
      example = true;
      description = "This host also runs the fleet's Headscale server; one host of a fleet does.";
    };

    headscale = {
      port = lib.mkOption {
        type = lib.types.port;
        default = 8080;
        example = 443;
        description = "Port Headscale listens on; put a TLS proxy in front of it or use port 443 with its own TLS.";
      };

      serverUrl = lib.mkOption {
        type = lib.types.nullOr lib.types.str;
        default = cfg.loginServer;
        defaultText = lib.literalExpression "config.keystone.mesh.loginServer";
        example = "https://headscale.example.org";
        description = "The URL clients reach this Headscale at; it must be the clients' login server.";
      };

      baseDomain = lib.mkOption {
        type = lib.types.str;
        default = "fleet.internal";
        example = "mesh.example.org";
        description = ''
          DNS suffix of mesh host names (MagicDNS). Headscale refuses one that contains the
          server URL's host name.
        '';
      };
    };
  };

  config = lib.mkMerge [
    (lib.mkIf cfg.enable {
      assertions = [
        {
          assertion = cfg.loginServer != null;
          message = ''
            keystone.mesh: the mesh needs its login server. Set `mesh.loginServer` in the host file, or:
            keystone.mesh.loginServer = "https://headscale.example.org";
          '';
        }
      ];

      services.tailscale = {
        enable = true;
        openFirewall = lib.mkDefault true;
        # The unit reads this path; systemd puts the credential there for that unit only.
        authKeyFile = "/run/credentials/tailscaled-autoconnect.service/${credential}";
        extraUpFlags = [
          "--login-server=${toString cfg.loginServer}"
        ]
        ++ lib.optional (cfg.tags != [ ]) "--advertise-tags=${lib.concatStringsSep "," cfg.tags}";
      };

      systemd.services.tailscaled-autoconnect = {
        unitConfig.ConditionPathExists = cfg.authKeyCredential;
        serviceConfig.LoadCredential = [ "${credential}:${cfg.authKeyCredential}" ];
      };

      # Mesh peers are the fleet's own hosts.
      networking.firewall.trustedInterfaces = lib.mkDefault [ "tailscale0" ];
    })

    (lib.mkIf cfg.server {
      assertions = [
        {
          assertion = cfg.headscale.serverUrl != null;
          message = ''
            keystone.mesh: the Headscale server needs the URL clients reach it at. Set:
            keystone.mesh.headscale.serverUrl = "https://headscale.example.org";
          '';
        }
      ];

      services.headscale = {
        enable = true;
        address = lib.mkDefault "0.0.0.0";
        port = cfg.headscale.port;
        settings = {
          server_url = toString cfg.headscale.serverUrl;
          dns.base_domain = cfg.headscale.baseDomain;
        };
      };
      networking.firewall.allowedTCPPorts = [ cfg.headscale.port ];
    })
  ];
}
