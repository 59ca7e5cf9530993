# Evaluates Keystone's NixOS modules with nixpkgs' `lib.evalModules` and Lanzaboote's own module,
# without nixpkgs' packages or NixOS: the rest of NixOS is stood in for by freeform options that
# accept any value. What this proves: every keystone.* option declaration, default and type is
# sound; every boot.lanzaboote.* option Keystone sets exists in Lanzaboote with that type; the
# assertions fire when they should; and the initrd units and settings have the values the
# credstore boot needs. Run it through scripts/check-modules-eval.sh.
{
  nixpkgsLib,
  lanzaboote,
  repo,
}:
let
  lib = import nixpkgsLib;
  t = lib.types;

  # A NixOS namespace that takes anything: what Keystone sets there is returned as it merged.
  free = lib.mkOption {
    type = t.submodule { freeformType = t.attrsOf t.anything; };
    default = { };
  };
  nixosStub = {
    options =
      lib.genAttrs [
        "services"
        "environment"
        "security"
        "networking"
        "fileSystems"
        "users"
        "nix"
        "programs"
        "documentation"
        "hardware"
        "fonts"
        "xdg"
        "i18n"
        "console"
        "time"
        "system"
        "nixpkgs"
        "image"
        "isoImage"
        "virtualisation"
        "powerManagement"
        "zramSwap"
      ] (_: free)
      // {
        assertions = lib.mkOption {
          type = t.listOf t.unspecified;
          default = [ ];
        };
        warnings = lib.mkOption {
          type = t.listOf t.str;
          default = [ ];
        };
        # Declared one by one: Lanzaboote's systemd units depend on other systemd options, which a
        # single freeform `systemd` would turn into an infinite recursion.
        systemd = {
          services = free;
          timers = free;
          targets = free;
          tmpfiles = free;
          settings = free;
          enableEmergencyMode = lib.mkOption { type = t.bool; default = true; };
          additionalUpstreamSystemUnits = lib.mkOption {
            type = t.listOf t.str;
            default = [ ];
          };
          package = lib.mkOption {
            type = t.str;
            default = "/nix/store/00000000000000000000000000000000-systemd";
          };
        };
        boot = {
          initrd = free;
          loader = free;
          zfs = free;
          bootspec = free;
          supportedFilesystems = free;
          kernel = free;
          kernelPackages = lib.mkOption { type = t.anything; };
          kernelParams = lib.mkOption {
            type = t.listOf t.str;
            default = [ ];
          };
          kernelModules = lib.mkOption {
            type = t.listOf t.str;
            default = [ ];
          };
        };
      };
    config.boot.zfs.package = "/nix/store/00000000000000000000000000000000-zfs";
    # Read by Lanzaboote's module.
    config.services.fwupd.enable = false;
    # Upstream defaults the mesh module reads (nixpkgs nixos/modules/services/networking/tailscale.nix).
    config.services.tailscale = {
      interfaceName = lib.mkDefault "tailscale0";
      authKeyParameters = lib.mkDefault {
        ephemeral = null;
        preauthorized = null;
        baseURL = null;
      };
    };
  };

  # nixpkgs' `utils` (nixos/lib/utils.nix): the functions Keystone's modules use, as upstream
  # defines them.
  escapeSystemdExecArg =
    arg: lib.replaceStrings [ "%" "$" ] [ "%%" "$$" ] (builtins.toJSON (toString arg));
  utils = {
    escapeSystemdExecArgs = lib.concatMapStringsSep " " escapeSystemdExecArg;
    escapeSystemdPath =
      s:
      lib.replaceStrings [ "/" "-" " " ] [ "-" "\\x2d" "\\x20" ] (
        if lib.hasPrefix "/" s then lib.substring 1 (lib.stringLength s - 1) s else s
      );
    fsNeededForBoot =
      fs:
      fs.neededForBoot or false
      || lib.elem fs.mountPoint [
        "/"
        "/nix"
        "/nix/store"
        "/var"
        "/var/log"
        "/var/lib"
        "/var/lib/nixos"
        "/etc"
        "/usr"
      ];
  };

  evalHost =
    modules:
    lib.evalModules {
      specialArgs = {
        inherit utils;
        modulesPath = "/nixpkgs/nixos/modules";
      };
      modules = [
        nixosStub
        {
          # Only writeText and writeShellScript are used outside package references: stand-ins
          # that keep their text.
          _module.args.pkgs.writeText = name: text: {
            __toString = _: "/nix/store/00000000000000000000000000000000-${name}";
            inherit text;
          };
          _module.args.pkgs.writeShellScript = name: text: {
            __toString = _: "/nix/store/00000000000000000000000000000000-${name}";
            inherit text;
          };
          # The package itself needs nixpkgs: a store path stands in for it.
          keystone.syncAgent.package = "/nix/store/00000000000000000000000000000000-keystone";
        }
        (lanzaboote + "/nix/modules/lanzaboote.nix")
        (repo + "/modules/disk")
        (repo + "/modules/tpm")
        (repo + "/modules/secure-boot")
        (repo + "/modules/remote-unlock")
        (repo + "/modules/users")
        (repo + "/modules/roles")
        (repo + "/modules/mesh")
        (repo + "/modules/sync-agent")
        (repo + "/modules/secrets")
        # What the generated disko.nix gives NixOS (disko lib/types/*.nix _config).
        {
          fileSystems = {
            "/" = {
              device = "rpool/crypt/system";
              fsType = "zfs";
              mountPoint = "/";
            };
            "/nix" = {
              device = "rpool/crypt/system/nix";
              fsType = "zfs";
              mountPoint = "/nix";
            };
            "/var" = {
              device = "rpool/crypt/system/var";
              fsType = "zfs";
              mountPoint = "/var";
            };
            "/boot" = {
              device = "/dev/disk/by-partlabel/disk-disk0-esp";
              fsType = "vfat";
              mountPoint = "/boot";
            };
          };
          boot.initrd.luks.devices.credstore = {
            device = "/dev/zvol/rpool/credstore";
            allowDiscards = true;
          };
        }
      ]
      ++ modules;
    };

  failed = config: map (a: a.message) (lib.filter (a: !a.assertion) config.assertions);

  host = file: import (repo + "/hosts/${file}/keystone.nix");

  # Each scenario: the evaluated values a reader can compare with the modules.
  summarise =
    config:
    let
      initrd = config.boot.initrd;
      units = initrd.systemd.services;
    in
    {
      failedAssertions = failed config;
      warnings = config.warnings;
      kernelParams = config.boot.kernelParams;
      initrdServices = lib.mapAttrs (
        name: unit:
        if unit ? enable && !unit.enable then
          "disabled"
        else
          {
            inherit (unit)
              after
              before
              requires
              ;
            wants = unit.wants or [ ];
            requiredBy = unit.requiredBy or [ ];
            wantedBy = unit.wantedBy or [ ];
            unitConfig = unit.unitConfig or { };
            serviceConfig = unit.serviceConfig or { };
            script = unit.script or null;
          }
      ) (lib.filterAttrs (name: _: lib.hasPrefix "keystone" name || lib.hasPrefix "zfs-import" name) units);
      initrdMounts = initrd.systemd.mounts or [ ];
      switchRoot = initrd.systemd.targets.initrd-switch-root or { };
      credstore = initrd.luks.devices.credstore;
      systemdBoot = config.boot.loader.systemd-boot.enable or null;
      lanzaboote = {
        inherit (config.boot.lanzaboote)
          enable
          pkiBundle
          extraEfiSysMountPoints
          allowUnsigned
          ;
        autoGenerateKeys = config.boot.lanzaboote.autoGenerateKeys.enable;
        autoEnrollKeys = {
          inherit (config.boot.lanzaboote.autoEnrollKeys) enable includeMicrosoftKeys autoReboot;
        };
      };
      tpmPcrsArg = config.keystone.tpm.pcrsArg;
      initrdSsh = initrd.network.ssh or null;
      admins = lib.attrNames config.keystone.users.admins;
      users = lib.mapAttrs (_: user: {
        isNormalUser = user.isNormalUser or false;
        extraGroups = user.extraGroups or [ ];
        keys = user.openssh.authorizedKeys.keys;
      }) (config.users.users or { });
      sshd = config.services.openssh.settings or { };
      nixGc = config.nix.gc or { };
      hyprland = config.programs.hyprland.enable or false;
    };
in
{
  web1 = summarise (evalHost [ (host "web1") ]).config;
  storage1 = summarise (evalHost [ (host "storage1") ]).config;
  desk1 = summarise (evalHost [ (host "desk1") ]).config;
  firstBootKeysWithoutMicrosoft = failed
    (evalHost [
      (host "web1")
      {
        keystone.secureBoot = {
          keys = lib.mkForce "first-boot";
          microsoftKeys = lib.mkForce false;
        };
      }
    ]).config;
  firstBootKeys =
    (summarise
      (evalHost [
        (host "web1")
        { keystone.secureBoot.keys = lib.mkForce "first-boot"; }
      ]).config
    ).lanzaboote;
  remoteUnlockWithoutAdmins = failed
    (evalHost [
      (host "storage1")
      { keystone.users.admins = lib.mkForce { }; }
    ]).config;
  # Without Lanzaboote: its units read boot.loader options that these stand-ins cannot give, so
  # reading systemd.services next to it does not terminate.
  meshClient =
    let
      config =
        (evalHost [
          (host "desk1")
          { keystone.secureBoot.enable = lib.mkForce false; }
        ]).config;
    in
    {
      inherit (config.services.tailscale) extraUpFlags;
      # What upstream's join script passes to `tailscale up --auth-key`: a file reference, not the key.
      authKeyReference = config.services.tailscale.authKeyFile.text;
      autoconnect = config.systemd.services.tailscaled-autoconnect;
    };
  secretsDelivery =
    let
      config =
        (evalHost [
          (host "web1")
          {
            # As for meshClient: systemd.services is read below.
            keystone.secureBoot.enable = lib.mkForce false;
            keystone.secrets = {
              s3-backup = {
                file = "/var/lib/keystone/secrets/fleet/s3-backup";
                services = [ "backup" ];
              };
              signing-key = {
                services = [ "backup" ];
                sealWithTpm = true;
              };
            };
          }
        ]).config;
    in
    {
      backup = config.systemd.services.backup;
      seal = config.systemd.services.keystone-seal-secrets.script;
      tmpfiles = config.systemd.tmpfiles.rules;
      failedAssertions = failed config;
    };
  sealWithoutTpm = failed
    (evalHost [
      (host "storage1")
      { keystone.secrets.x.sealWithTpm = true; }
    ]).config;
  meshWithoutLoginServer = failed
    (evalHost [
      (host "desk1")
      { keystone.mesh.loginServer = lib.mkForce null; }
    ]).config;
  adminsWithoutKeys = failed
    (evalHost [
      (host "web1")
      { keystone.users.admins = lib.mkForce { alice.sshKeys = [ ]; }; }
    ]).config;
  headscaleServer =
    (evalHost [
      (host "desk1")
      { keystone.mesh.server = lib.mkForce true; }
    ]).config.services.headscale;
  # The sync agent as the example host file asks for it (storage1: a folder store, one backup
  # path), and with everything on: S3, a two-way path, watch, metrics, retention.
  syncAgent =
    let
      units =
        config:
        lib.filterAttrs (name: _: lib.hasPrefix "keystone-sync-agent" name) config.systemd.services;
      timers =
        config: lib.filterAttrs (name: _: lib.hasPrefix "keystone-sync-agent" name) config.systemd.timers;
      plain =
        (evalHost [
          (host "storage1")
          { keystone.secureBoot.enable = lib.mkForce false; }
        ]).config;
      full =
        (evalHost [
          (host "storage1")
          {
            keystone.secureBoot.enable = lib.mkForce false;
            keystone.syncAgent = {
              store = lib.mkForce "s3://fleet/storage1";
              endpoint = lib.mkForce "https://s3.example.org";
              caFile = "/etc/ssl/lan-ca.pem";
              paths = lib.mkForce [
                { path = "/var/lib/important"; }
                {
                  path = "/srv/shared 100%";
                  mode = "two-way";
                }
              ];
              watch = lib.mkForce true;
              metrics.enable = lib.mkForce true;
              retention = lib.mkForce {
                daily = 7;
                monthly = 12;
              };
            };
          }
        ]).config;
    in
    {
      plain = {
        units = units plain;
        timers = timers plain;
      };
      full = {
        units = units full;
        timers = timers full;
        failedAssertions = failed full;
      };
      withoutPaths = failed
        (evalHost [
          (host "storage1")
          {
            keystone.secureBoot.enable = lib.mkForce false;
            keystone.syncAgent.paths = lib.mkForce [ ];
          }
        ]).config;
    };
  # A PCR outside 0-23 is a type error, so the evaluation must fail.
  badPcrRejected =
    let
      pcrs =
        (evalHost [
          (host "web1")
          { keystone.tpm.pcrs = [ 24 ]; }
        ]).config.keystone.tpm.pcrs;
    in
    !(builtins.tryEval (builtins.deepSeq pcrs pcrs)).success;
}
