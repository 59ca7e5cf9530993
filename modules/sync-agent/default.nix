# The Keystone sync agent as a service: `keystone agent run` keeps the host's paths in its store,
# encrypted on the host, publishes a signed heartbeat after every pass (`keystone fleet status`
# reads them) and runs on under faults: the store down (work is queued), a crash (restarted, at
# most 5 times in 5 minutes), a hang (a health check restarts it).
#
# It runs as a dynamic user in a read-only system (ProtectSystem=strict). What it may do beyond
# that is granted, not inherited: read every backed-up path (CAP_DAC_READ_SEARCH); write, own and
# date files only in two-way paths and a folder store (ReadWritePaths, CAP_DAC_OVERRIDE,
# CAP_CHOWN, CAP_FOWNER). Its
# keys reach it only as systemd credentials: the host's age key (the device key the repository's
# key ring names), the heartbeat signing key and the S3 credentials, all installed by `keystone
# deploy` into root-only files.
#
# Option names: systemd.exec(5) (LoadCredential=, ProtectSystem=, ReadWritePaths=,
# CapabilityBoundingSet=, AmbientCapabilities=, StateDirectory=, DynamicUser=),
# systemd.service(5) (Restart=), systemd.unit(5) (StartLimitIntervalSec=, StartLimitBurst=, which
# nixpkgs exposes as systemd.services.<name>.startLimitIntervalSec/startLimitBurst in
# nixos/lib/systemd-unit-options.nix); utils.escapeSystemdExecArgs from nixos/lib/utils.nix.
{
  config,
  lib,
  pkgs,
  utils,
  ...
}:
let
  cfg = config.keystone.syncAgent;
  unit = "keystone-sync-agent";
  keystone = "${cfg.package}/bin/keystone";
  isS3 = lib.hasPrefix "s3://" cfg.store;
  # A folder store is written by the agent like a two-way path; both exist before it starts.
  writable = import ./writable-paths.nix { inherit (cfg) store paths; };
  inherit (import ./safe-path.nix) isSafePath;
  # lib.types.addCheck: the string type, and the rule of safe-path.nix on top.
  safePath = lib.types.addCheck lib.types.str isSafePath // {
    description = "absolute path in plain form (letters, digits and . _ - + @ , = : only)";
  };
  inherit (writable) fileStore twoWay;
  backupPaths = map (p: p.path) (lib.filter (p: p.mode == "backup") cfg.paths);
  seconds = toString cfg.intervalSeconds;

  storeArgs = lib.optionals isS3 (
    [
      "--region"
      cfg.region
      (if cfg.pathStyle then "--path-style" else "--no-path-style")
    ]
    ++ lib.optionals (cfg.endpoint != null) [
      "--endpoint"
      cfg.endpoint
    ]
    ++ lib.optionals (cfg.caFile != null) [
      "--s3-ca"
      cfg.caFile
    ]
  );

  # First start: join the repository with the host's own age key, which an admin added to the
  # key ring (`keystone agent keys add <the host's age recipient>`). The key stays a credential.
  joinIfNew = pkgs.writeShellScript "keystone-sync-agent-join" ''
    set -eu
    if [ ! -e "$STATE_DIRECTORY/agent.json" ]; then
      exec ${keystone} agent init ${
        lib.escapeShellArgs ([ cfg.store "--label" cfg.hostName ] ++ storeArgs)
      } --device-key-file "$CREDENTIALS_DIRECTORY/device-key"
    fi
  '';

  runArgs = [
    "agent"
    "run"
  ]
  ++ backupPaths
  ++ lib.concatMap (path: [
    "--two-way"
    path
  ]) twoWay
  ++ [
    "--interval"
    "${seconds}s"
    "--heartbeat"
  ]
  ++ lib.concatMap (pcr: [
    "--pcr"
    (toString pcr)
  ]) cfg.pcrs
  ++ lib.optionals cfg.watch [ "--watch" ]
  ++ lib.optionals cfg.metrics.enable [
    "--metrics"
    "127.0.0.1:${toString cfg.metrics.port}"
  ];

  retention = lib.filterAttrs (_: n: n != null) cfg.retention;
  pruneArgs =
    [
      "agent"
      "prune"
    ]
    ++ lib.concatLists (
      lib.mapAttrsToList (rule: n: [
        "--keep-${rule}"
        (toString n)
      ]) retention
    );

  credentials = [
    "device-key:${cfg.deviceKeyFile}"
    "agent-signing-key:${cfg.signingKeyFile}"
  ]
  ++ lib.optional (isS3 && cfg.s3CredentialsFile != null) "s3-credentials:${cfg.s3CredentialsFile}";

  # One dynamic user for the daemon, the prune and the health check: the same name, the same UID
  # and state directory (systemd.exec(5)).
  agentUser = {
    DynamicUser = true;
    User = unit;
    StateDirectory = unit;
  };
  health = import ./health-units.nix {
    inherit unit keystone agentUser;
    systemctl = "${config.systemd.package}/bin/systemctl";
  };
  hardening = agentUser // {
    StateDirectoryMode = "0700";
    LoadCredential = credentials;
    ProtectSystem = "strict";
    ProtectHome = "read-only";
    ReadWritePaths = writable.readWritePaths;
    PrivateTmp = true;
    PrivateDevices = true;
    NoNewPrivileges = true;
    ProtectKernelTunables = true;
    ProtectKernelModules = true;
    ProtectKernelLogs = true;
    ProtectControlGroups = true;
    ProtectClock = true;
    ProtectHostname = true;
    RestrictNamespaces = true;
    RestrictRealtime = true;
    RestrictSUIDSGID = true;
    LockPersonality = true;
    SystemCallArchitectures = "native";
    RestrictAddressFamilies = [
      "AF_INET"
      "AF_INET6"
      "AF_UNIX"
    ];
    CapabilityBoundingSet = capabilities;
    AmbientCapabilities = capabilities;
    UMask = "0077";
  };
  capabilities = [
    "CAP_DAC_READ_SEARCH"
  ]
  ++ lib.optionals (twoWay ++ fileStore != [ ]) [
    "CAP_DAC_OVERRIDE"
    "CAP_CHOWN"
    "CAP_FOWNER"
  ];
in
{
  options.keystone.syncAgent = {
    enable = lib.mkEnableOption "the Keystone sync agent";

    package = lib.mkOption {
      type = lib.types.package;
      default = pkgs.callPackage ../../package.nix { };
      defaultText = lib.literalExpression "keystone.packages.\${system}.keystone";
      description = "The Keystone package whose `keystone agent` runs.";
    };

    hostName = lib.mkOption {
      type = lib.types.str;
      default = config.networking.hostName;
      defaultText = lib.literalExpression "config.networking.hostName";
      description = ''
        The name this host signs its heartbeats with (`fleet/<name>/` in the store); it must be
        the name of its host file for `keystone fleet status` to find it.
      '';
    };

    store = lib.mkOption {
      # A folder store's path reaches ReadWritePaths= and tmpfiles.d: it obeys the paths' rule.
      type =
        lib.types.addCheck (lib.types.strMatching "(s3|file)://.+") (
          store: !(lib.hasPrefix "file://" store) || isSafePath (lib.removePrefix "file://" store)
        )
        // {
          description = "s3://<bucket>/<prefix>, or file:// and an absolute path in plain form";
        };
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

    caFile = lib.mkOption {
      type = lib.types.nullOr safePath;
      default = null;
      example = "/etc/ssl/lan-ca.pem";
      description = ''
        The certificate (PEM) of a private CA that signed the https endpoint's certificate,
        trusted besides the system's roots (`keystone agent init --s3-ca`). Verification is never
        turned off. Ignored for file:// stores.
      '';
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
              type = safePath;
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

    intervalSeconds = lib.mkOption {
      type = lib.types.ints.positive;
      default = 3600;
      example = 900;
      description = ''
        Time between two passes; each pass also publishes a heartbeat, so `keystone fleet
        status` calls a host stale after two missed intervals.
      '';
    };

    watch = lib.mkOption {
      type = lib.types.bool;
      default = false;
      description = ''
        Also start a pass a few seconds after files change (inotify). The pass every interval
        still runs, so a missed event or an exhausted watch limit never loses a change.
      '';
    };

    retention = lib.mkOption {
      type = lib.types.submodule {
        options = lib.genAttrs [ "last" "hourly" "daily" "weekly" "monthly" ] (
          rule:
          lib.mkOption {
            type = lib.types.nullOr lib.types.ints.positive;
            default = null;
            description = "Snapshots to keep by the ${rule} rule (`keystone agent prune --keep-${rule}`).";
          }
        );
      };
      default = { };
      example = {
        daily = 7;
        weekly = 4;
        monthly = 12;
      };
      description = "Which snapshots a daily prune keeps; with no rule set, nothing is pruned.";
    };

    metrics = {
      enable = lib.mkEnableOption "Prometheus metrics and /healthz on 127.0.0.1";
      port = lib.mkOption {
        type = lib.types.port;
        default = 9464;
        description = "Loopback port of the metrics endpoint.";
      };
    };

    pcrs = lib.mkOption {
      type = lib.types.listOf (lib.types.ints.between 0 23);
      default = config.keystone.tpm.pcrs;
      defaultText = lib.literalExpression "config.keystone.tpm.pcrs";
      description = "PCRs whose values each heartbeat reports, compared with the enrollment record.";
    };

    deviceKeyFile = lib.mkOption {
      type = lib.types.strMatching "/.+";
      default = "/var/lib/keystone/age.key";
      description = "The host's age identity, which the repository's key ring must name.";
    };

    signingKeyFile = lib.mkOption {
      type = lib.types.strMatching "/.+";
      default = "/var/lib/keystone/agent-signing-key";
      description = "The Ed25519 key heartbeats are signed with; its public half is pinned in the host file.";
    };

    s3CredentialsFile = lib.mkOption {
      type = lib.types.nullOr (lib.types.strMatching "/.+");
      default = "/var/lib/keystone/secrets/s3-credentials";
      description = ''
        `AWS_ACCESS_KEY_ID=…` and `AWS_SECRET_ACCESS_KEY=…` lines (a vault secret of kind
        s3-credentials, installed at deploy). Ignored for file:// stores.
      '';
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = [
      {
        # Two-way sync of / would let other hosts write anywhere in this one.
        assertion = !(lib.any (p: p.mode == "two-way" && p.path == "/") cfg.paths);
        message = ''
          keystone.syncAgent: a two-way path of / would let every other host write all of this
          one; sync the directories that are shared, e.g. { path = "/srv/shared"; mode = "two-way"; }
        '';
      }
      {
        assertion = cfg.paths != [ ];
        message = ''
          keystone.syncAgent: name at least one path, e.g.
          keystone.syncAgent.paths = [ { path = "/var/lib/important"; } ];
        '';
      }
    ];

    # `keystone agent status` and friends for the admin on the host.
    environment.systemPackages = [ cfg.package ];

    # nixpkgs nixos/modules/system/boot/systemd/tmpfiles.nix: systemd.tmpfiles.rules.
    systemd.tmpfiles.rules = writable.tmpfilesRules;

    systemd.services.${unit} = {
      description = "Keystone sync agent";
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-online.target" ];
      after = [ "network-online.target" ];
      startLimitIntervalSec = 300;
      startLimitBurst = 5;
      serviceConfig = hardening // {
        ExecStartPre = "${joinIfNew}";
        ExecStart = "${keystone} ${utils.escapeSystemdExecArgs runArgs}";
        Restart = "on-failure";
        RestartSec = "10s";
        # The daemon finishes the step it is in (a pack upload at most) on SIGTERM.
        TimeoutStopSec = "2min";
      };
    };

    # The health check (health-units.nix): runs while the agent runs, restarts it when it hangs.
    systemd.services."${unit}-health" = health.services."${unit}-health";
    systemd.services."${unit}-restart" = health.services."${unit}-restart";
    systemd.timers."${unit}-health" = health.timers."${unit}-health";

    systemd.services."${unit}-prune" = lib.mkIf (retention != { }) {
      description = "Forget old snapshots of the Keystone sync agent";
      after = [ "network-online.target" ];
      wants = [ "network-online.target" ];
      serviceConfig = hardening // {
        Type = "oneshot";
        ExecStart = "${keystone} ${utils.escapeSystemdExecArgs pruneArgs}";
      };
    };
    systemd.timers."${unit}-prune" = lib.mkIf (retention != { }) {
      wantedBy = [ "timers.target" ];
      timerConfig = {
        OnCalendar = "daily";
        Persistent = true;
        RandomizedDelaySec = "1h";
      };
    };
  };
}
