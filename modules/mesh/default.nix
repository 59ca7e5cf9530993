# The fleet's private network: every host with `mesh.enable` joins a Tailscale mesh coordinated
# by the fleet's own Headscale server, which one host (`mesh.server`) runs. The pre-auth key is
# installed at deploy into a root-only file and reaches Tailscale only as a systemd credential of
# the unit that joins, never through the Nix store, argv or the environment.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.keystone.mesh;

  # nixpkgs nixos/modules/services/networking/tailscale.nix: the join unit that exists once
  # services.tailscale.authKeyFile is set.
  joinUnit = "tailscaled-autoconnect";
  credential = "mesh-auth-key";
  # systemd.exec(5): a unit's credentials are in /run/credentials/<unit name>/.
  credentialPath = "/run/credentials/${joinUnit}.service/${credential}";

  # Upstream's join script runs `tailscale up --auth-key "$(cat <authKeyFile>)"`, which would
  # put the key in argv. This file holds only a `file:` reference instead: the tailscale CLI
  # then opens the credential itself (tailscale/tailscale cmd/tailscale/cli/up.go, getAuthKey).
  keyReference = pkgs.writeText "mesh-auth-key-reference" "file:${credentialPath}";

  # tailscale/tailscale tailcfg/tailcfg.go CheckTag: "tag:", a letter, then letters, digits, dashes.
  badTags = lib.filter (tag: builtins.match "tag:[A-Za-z][A-Za-z0-9-]*" tag == null) cfg.tags;
  fixedTag = tag: if lib.hasPrefix "tag:" tag then tag else "tag:${tag}";

  hostOf = url: lib.head (builtins.match "[A-Za-z][A-Za-z0-9+.-]*://([^/:?#]+).*" url);
  isUrl = url: url != null && builtins.match "https?://[^/:?#]+.*" url != null;
in
{
  options.keystone.mesh = {
    enable = lib.mkEnableOption "membership in the fleet's Tailscale mesh";

    loginServer = lib.mkOption {
      type = lib.types.nullOr lib.types.str;
      default = null;
      example = "https://headscale.example.org";
      description = ''
        URL of the fleet's Headscale server, passed to `tailscale up --login-server`. Set it
        (`mesh.loginServer` in the host file) whenever the mesh is enabled; change it only when
        the fleet moves its server.
      '';
    };

    tags = lib.mkOption {
      type = lib.types.listOf lib.types.str;
      default = [ ];
      example = [ "tag:workstation" ];
      description = ''
        ACL tags this host asks for (`tailscale up --advertise-tags`). Add one when the fleet's
        Headscale policy grants access by tag; the policy's `tagOwners` must let the pre-auth
        key's user own it, or Headscale refuses the tag.
      '';
    };

    authKeyCredential = lib.mkOption {
      type = lib.types.strMatching "/.+";
      default = "/var/lib/keystone/secrets/mesh-auth-key";
      example = "/etc/credstore/mesh-auth-key";
      description = ''
        Root-only file on the host holding the Headscale pre-auth key; `keystone deploy` installs
        it there. It reaches Tailscale only as a systemd credential, and until it exists the host
        does not try to join. Change it only if you install the key somewhere else yourself.
      '';
    };

    server = lib.mkOption {
      type = lib.types.bool;
      default = false;
      example = true;
      description = ''
        Run the fleet's Headscale server on this host. Turn it on for exactly one host of the
        fleet; it works whether or not this host also joins the mesh.
      '';
    };

    headscale = {
      serverUrl = lib.mkOption {
        type = lib.types.nullOr lib.types.str;
        default = cfg.loginServer;
        defaultText = lib.literalExpression "config.keystone.mesh.loginServer";
        example = "https://headscale.example.org";
        description = ''
          The URL clients reach this Headscale at; it must equal their `loginServer`. Set it
          when this host runs the server without joining the mesh itself.
        '';
      };

      port = lib.mkOption {
        type = lib.types.port;
        default = 8080;
        example = 443;
        description = ''
          TCP port Headscale listens on. Change it when Headscale terminates TLS itself (443) or
          when a reverse proxy in front of it expects another port.
        '';
      };

      openFirewall = lib.mkOption {
        type = lib.types.bool;
        default = true;
        example = false;
        description = ''
          Listen on all addresses and open `port` in the firewall. Turn it off when a TLS reverse
          proxy on this host fronts Headscale: it then listens on 127.0.0.1 only.
        '';
      };

      baseDomain = lib.mkOption {
        type = lib.types.str;
        default = "fleet.internal";
        example = "mesh.example.org";
        description = ''
          DNS suffix of mesh host names (MagicDNS: `<host>.<baseDomain>`). Change it if the
          fleet already uses this name; it must not be, or be a parent of, the server URL's host.
        '';
      };
    };
  };

  # Joining and serving are separate roles: the server host need not join its own mesh.
  config = lib.mkMerge [
    (lib.mkIf cfg.enable {
      assertions = [
        {
          assertion = isUrl cfg.loginServer;
          message = ''
            keystone.mesh.loginServer: expected the URL of the fleet's Headscale server, got
            `${toString cfg.loginServer}`. Set `mesh.loginServer` in the host file, or:
            keystone.mesh.loginServer = "https://headscale.example.org";
          '';
        }
        {
          assertion = badTags == [ ];
          message = ''
            keystone.mesh.tags: expected tags like `tag:workstation` (after `tag:`, a letter, then
            letters, digits or dashes), got `${lib.concatStringsSep "`, `" badTags}`. Set:
            keystone.mesh.tags = [ ${lib.concatMapStringsSep " " (tag: ''"${fixedTag tag}"'') cfg.tags} ];
          '';
        }
        {
          # Upstream appends these as `?k=v` to what authKeyFile holds: here, a file path.
          assertion =
            let
              parameters = config.services.tailscale.authKeyParameters;
            in
            parameters.ephemeral == null && parameters.preauthorized == null && parameters.baseURL == null;
          message = ''
            services.tailscale.authKeyParameters: keystone.mesh passes the key as a file, which
            cannot carry parameters (they are for Tailscale OAuth clients, not Headscale). Remove
            them, or set: services.tailscale.authKeyParameters = lib.mkForce { };
          '';
        }
      ];

      # nixpkgs nixos/modules/services/networking/tailscale.nix: enable, openFirewall,
      # authKeyFile, extraUpFlags (given to `tailscale up` by the join unit), interfaceName.
      services.tailscale = {
        enable = true;
        openFirewall = lib.mkDefault true;
        authKeyFile = keyReference;
        extraUpFlags = [
          "--login-server=${toString cfg.loginServer}"
        ]
        ++ lib.optional (cfg.tags != [ ]) "--advertise-tags=${lib.concatStringsSep "," cfg.tags}";
      };

      # systemd.unit(5) ConditionPathExists=, systemd.exec(5) LoadCredential=: without a key the
      # unit is skipped instead of failing on the missing credential.
      systemd.services.${joinUnit} = {
        unitConfig.ConditionPathExists = cfg.authKeyCredential;
        serviceConfig.LoadCredential = [ "${credential}:${cfg.authKeyCredential}" ];
      };

      # nixpkgs nixos/modules/services/networking/firewall.nix: trustedInterfaces. Mesh peers are
      # the fleet's own hosts, admitted by the Headscale policy. A plain list, merged with the
      # user's own trusted interfaces (a mkDefault one was dropped as soon as the user set any).
      networking.firewall.trustedInterfaces = [ config.services.tailscale.interfaceName ];
    })

    (lib.mkIf cfg.server {
      assertions = [
        {
          assertion = isUrl cfg.headscale.serverUrl;
          message = ''
            keystone.mesh.headscale.serverUrl: expected the URL clients reach this Headscale at,
            got `${toString cfg.headscale.serverUrl}`. Set `mesh.loginServer` in the host file, or:
            keystone.mesh.headscale.serverUrl = "https://headscale.example.org";
          '';
        }
        {
          assertion = !cfg.enable || cfg.headscale.serverUrl == cfg.loginServer;
          message = ''
            keystone.mesh.headscale.serverUrl: this host joins its own Headscale, so the server URL
            must be its login server: expected `${toString cfg.loginServer}`, got
            `${toString cfg.headscale.serverUrl}`. Set:
            keystone.mesh.headscale.serverUrl = config.keystone.mesh.loginServer;
          '';
        }
        {
          # juanfont/headscale hscontrol/types/config.go isSafeServerURL: Headscale refuses to
          # start when MagicDNS would shadow its own host name.
          assertion =
            !isUrl cfg.headscale.serverUrl
            || (
              let
                host = hostOf cfg.headscale.serverUrl;
              in
              host != cfg.headscale.baseDomain && !lib.hasSuffix ".${cfg.headscale.baseDomain}" host
            );
          message = ''
            keystone.mesh.headscale.baseDomain: `${cfg.headscale.baseDomain}` would shadow the
            server's own host `${hostOf (toString cfg.headscale.serverUrl)}`, and Headscale refuses
            to start. Pick a domain outside it, e.g.:
            keystone.mesh.headscale.baseDomain = "fleet.internal";
          '';
        }
      ];

      # nixpkgs nixos/modules/services/networking/headscale.nix: enable, address, port,
      # settings.{server_url, dns.base_domain, dns.override_local_dns}. The port goes to `port`,
      # not only into listen_addr, because the module grants CAP_NET_BIND_SERVICE from it.
      services.headscale = {
        enable = true;
        port = cfg.headscale.port;
        address = lib.mkDefault (if cfg.headscale.openFirewall then "0.0.0.0" else "127.0.0.1");
        settings = {
          server_url = toString cfg.headscale.serverUrl;
          dns.base_domain = cfg.headscale.baseDomain;
          # Hosts keep their own resolvers; Headscale defaults this to true and then refuses to
          # start without dns.nameservers.global (juanfont/headscale hscontrol/types/config.go).
          dns.override_local_dns = lib.mkDefault false;
        };
      };

      networking.firewall.allowedTCPPorts = lib.mkIf cfg.headscale.openFirewall [
        cfg.headscale.port
      ];
    })
  ];
}
