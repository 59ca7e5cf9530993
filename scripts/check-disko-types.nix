# Evaluates one generated `hosts/<name>/disko.nix` through disko's own type system, with nixpkgs'
# `lib` only (no pkgs, no NixOS), and returns everything that evaluates without pkgs: the typed
# option values, the NixOS configuration disko derives, the create/mount/unmount/destroy scripts,
# and a list of layout checks. Used by scripts/check-disko-types.sh; run with
#   nix-instantiate --eval --strict --json --readonly-mode scripts/check-disko-types.nix \
#     --argstr diskoSrc <disko checkout> --argstr nixpkgsLib <dir holding lib/default.nix> \
#     --argstr hostFile <…/hosts/<name>/disko.nix>
# (all three absolute paths).
#
# Upstream references are to nix-community/disko @ 878ec37 (D) unless marked otherwise.
{
  diskoSrc,
  nixpkgsLib,
  hostFile,
  rootMountPoint ? "/mnt",
}:
let
  lib = import (/. + nixpkgsLib + "/lib");

  # D lib/default.nix:1-7 takes `lib` and `rootMountPoint`; makeTest, eval-config and qemu-common
  # are only used by `diskoLib.testLib` (lib/tests.nix) and need nixpkgs, so they must stay unforced.
  unavailable = what: throw "check-disko-types: ${what} needs nixpkgs, which this check does not load";
  diskoLib = import (/. + diskoSrc + "/lib") {
    inherit lib rootMountPoint;
    makeTest = unavailable "makeTest";
    eval-config = unavailable "eval-config";
    qemu-common = unavailable "qemu-common";
  };

  # The same evaluation as D default.nix:8-20 (`eval`) and module.nix:147-151: one option
  # `disko.devices` of type `diskoLib.toplevel` (lib/default.nix:682). The host file is passed as
  # a module itself so that type errors name it.
  evaluated = lib.evalModules {
    modules = [
      { options.disko.devices = lib.mkOption { type = diskoLib.toplevel; }; }
      (/. + hostFile)
    ];
  };
  devices = evaluated.config.disko.devices;

  # D module.nix:307-309 forwards exactly these three keys of `_config` into NixOS. They are
  # evaluated here against stand-in declarations carrying the NixOS option names (nixpkgs
  # nixos/modules/tasks/filesystems.nix, config/swap.nix, system/boot/luksroot.nix), so that
  # mkMerge/mkIf are resolved and clashing definitions (two ESPs on /boot) fail as they would there.
  forwardedKeys = [
    "fileSystems"
    "boot"
    "swapDevices"
  ];
  t = lib.types;
  opt = type: default: lib.mkOption { inherit type default; };
  nixosView =
    (lib.evalModules {
      modules = [
        {
          options = {
            fileSystems = opt (t.attrsOf (
              t.submodule (
                { name, ... }:
                {
                  # filesystems.nix: mountPoint defaults to the attribute name and must be
                  # non-empty without a trailing slash.
                  options.mountPoint = opt (t.addCheck t.str (s: s != "" && builtins.match ".+/" s == null)) name;
                  options.device = lib.mkOption { type = t.str; };
                  options.fsType = lib.mkOption { type = t.str; };
                  options.options = opt (t.listOf t.nonEmptyStr) [ ];
                }
              )
            )) { };
            swapDevices = opt (t.listOf (
              t.submodule {
                options = {
                  device = lib.mkOption { type = t.str; };
                  priority = opt (t.nullOr t.int) null;
                  discardPolicy = opt (t.nullOr (
                    t.enum [
                      "once"
                      "pages"
                      "both"
                    ]
                  )) null;
                  randomEncryption = opt (t.submodule {
                    options.enable = opt t.bool false;
                    options.allowDiscards = opt t.bool false;
                  }) { };
                  options = opt (t.listOf t.nonEmptyStr) [ ];
                };
              }
            )) [ ];
            boot = opt (t.submodule {
              freeformType = t.attrsOf t.anything;
              options.resumeDevice = opt t.str "";
              options.initrd.luks.devices = opt (t.attrsOf (
                t.submodule {
                  freeformType = t.attrsOf t.anything;
                  options.device = lib.mkOption { type = t.str; };
                  options.allowDiscards = opt t.bool false;
                  options.crypttabExtraOpts = opt (t.listOf t.str) [ ];
                }
              )) { };
            }) { };
          };
        }
        {
          config = {
            fileSystems = devices._config.fileSystems or { };
            boot = devices._config.boot or { };
            swapDevices = devices._config.swapDevices or [ ];
          };
        }
      ];
    }).config;
  nixos = {
    inherit (nixosView) fileSystems swapDevices boot;
  };

  # `_packages` (lib/default.nix:738) is a function of pkgs. Stand-in derivations named after every
  # `pkgs.<name>` that lib/types/*.nix mention let it evaluate to the list of tools the
  # format/mount scripts need on the installer's PATH.
  typeFiles = lib.attrNames (builtins.readDir (/. + diskoSrc + "/lib/types"));
  pkgNames = lib.unique (
    [ "coreutils-full" ]
    ++ lib.concatMap (
      file:
      lib.concatLists (
        lib.filter lib.isList (
          builtins.split "pkgs\\.([A-Za-z0-9_-]+)" (builtins.readFile (/. + diskoSrc + "/lib/types/${file}"))
        )
      )
    ) typeFiles
  );
  stubPkgs = lib.genAttrs pkgNames (name: {
    type = "derivation";
    inherit name;
    outPath = "/nix/store/00000000000000000000000000000000-${name}";
  });

  # ---- typed values, summarised per node ------------------------------------------------------

  hooksOf =
    node:
    lib.filterAttrs (_: v: v != "") {
      inherit (node)
        preCreateHook
        postCreateHook
        preMountHook
        postMountHook
        preUnmountHook
        postUnmountHook
        ;
    };

  contentOf =
    c:
    if c == null then
      null
    else
      {
        inherit (c) type;
        hooks = hooksOf c;
      }
      // (
        if c.type == "filesystem" then
          { inherit (c) device format mountpoint mountOptions extraArgs; }
        else if c.type == "zfs" then
          { inherit (c) device pool; }
        else if c.type == "swap" then
          {
            inherit (c)
              device
              randomEncryption
              resumeDevice
              priority
              discardPolicy
              mountOptions
              ;
          }
        else if c.type == "luks" then
          {
            inherit (c)
              device
              name
              passwordFile
              keyFile
              askPassword
              settings
              initrdUnlock
              additionalKeyFiles
              extraFormatArgs
              extraOpenArgs
              ;
            content = contentOf c.content;
          }
        else
          { unexpected = true; }
      );

  # D lib/types/gpt.nix:11 sorts partitions by `priority`; `_index` (gpt.nix:244-249) is the
  # position in that order and becomes the sgdisk partition number.
  partitionsOf =
    disk:
    map (p: {
      inherit (p)
        name
        _index
        label
        type
        size
        start
        end
        priority
        alignment
        device
        ;
      content = contentOf p.content;
    }) (lib.sort (a: b: a._index < b._index) (lib.attrValues disk.content.partitions));

  disks = lib.mapAttrs (_: d: {
    inherit (d)
      name
      device
      type
      destroy
      ;
    table = d.content.type;
    partitions = if d.content.type == "gpt" then partitionsOf d else [ ];
  }) devices.disk;

  datasetOf =
    ds:
    {
      inherit (ds) type name options;
      hooks = hooksOf ds;
    }
    // (
      if ds.type == "zfs_fs" then
        { inherit (ds) _name mountpoint mountOptions; }
      else
        {
          inherit (ds) size extraArgs;
          content = contentOf ds.content;
        }
    );

  zpools = lib.mapAttrs (_: p: {
    inherit (p)
      name
      type
      mode
      options
      rootFsOptions
      mountpoint
      ;
    datasets = lib.mapAttrs (_: datasetOf) p.datasets;
    # D lib/types/zpool.nix:396 creates datasets in `lib.attrValues config.datasets` order, i.e.
    # sorted by attribute name; `__root` is the pool's own dataset (zpool.nix:451-459).
    createOrder = lib.attrNames p.datasets;
  }) devices.zpool;

  # ---- checks: the Keystone layout invariants -------------------------------------------------

  check = name: ok: detail: { inherit name ok detail; };
  allPartitions = lib.concatMap (d: map (p: p // { disk = d.name; }) d.partitions) (lib.attrValues disks);
  byName = n: lib.filter (p: p.name == n) allPartitions;
  esps = byName "esp";
  swaps = byName "swap";
  canonicalOrder = [
    "esp"
    "zfs"
    "swap"
  ];

  diskChecks = lib.concatMap (
    d:
    let
      names = map (p: p.name) d.partitions;
      part = n: lib.findFirst (p: p.name == n) null d.partitions;
      esp = part "esp";
      zfs = part "zfs";
      swap = part "swap";
      last = lib.last d.partitions;
      fullSize = lib.filter (p: p.size == "100%") d.partitions;
      at = "disk ${d.name}";
    in
    [
      (check "${at}: GPT table" (d.table == "gpt") d.table)
      (check "${at}: partitions in order ESP, ZFS, swap" (
        names == lib.filter (n: lib.elem n names) canonicalOrder && lib.elem "zfs" names
      ) (lib.concatStringsSep "," names))
      (check "${at}: sgdisk numbers are 1..n" (
        map (p: p._index) d.partitions == lib.range 1 (lib.length d.partitions)
      ) (toString (map (p: p._index) d.partitions)))
      (check "${at}: labels are <parent type>-<disk>-<partition> (gpt.nix:139-157)" (lib.all (
        p: p.label == "disk-${d.name}-${p.name}"
      ) d.partitions) (toString (map (p: p.label) d.partitions)))
      (check "${at}: at most one 100% partition, and it is the last" (
        fullSize == [ ] || fullSize == [ last ]
      ) (toString (map (p: p.name) fullSize)))
      (check "${at}: ZFS member of a declared pool" (
        zfs != null && zfs.content.type == "zfs" && devices.zpool ? ${zfs.content.pool}
      ) (if zfs == null then "none" else zfs.content.pool or "?"))
    ]
    ++ lib.optionals (esp != null) [
      (check "${at}: ESP is partition 1, EF00, vfat, umask=0077" (
        esp._index == 1
        && esp.type == "EF00"
        && esp.content.type == "filesystem"
        && esp.content.format == "vfat"
        && lib.elem "umask=0077" esp.content.mountOptions
      ) "${toString esp._index} ${esp.type} ${esp.content.format or "?"}")
      (check "${at}: ESP mounted on /boot or /boot<n>" (
        builtins.match "/boot[0-9]*" (toString esp.content.mountpoint) != null
      ) (toString esp.content.mountpoint))
    ]
    ++ lib.optionals (swap != null) [
      (check "${at}: swap is last, type 8200, random key per boot" (
        swap == last && swap.type == "8200" && swap.content.type == "swap" && swap.content.randomEncryption
      ) "${toString swap._index} ${swap.type}")
      (check "${at}: ZFS ends at -<swap> and swap takes 100%, or ZFS has a fixed size" (
        (zfs.size == "0" && builtins.match "-[0-9]+[KMGTP]" zfs.end != null && swap.size == "100%")
        || (zfs.size != "0" && zfs.size != "100%")
      ) "zfs size=${zfs.size} end=${zfs.end}; swap size=${swap.size} end=${swap.end}")
    ]
    ++ lib.optionals (swap == null) [
      (check "${at}: without swap the ZFS member is the last partition" (zfs == last) zfs.name)
    ]
  ) (lib.attrValues disks);

  fleetDiskChecks = [
    (check "partition labels are unique across disks" (
      lib.length (lib.unique (map (p: p.label) allPartitions)) == lib.length allPartitions
    ) (toString (map (p: p.label) allPartitions)))
    (check "the first disk's ESP is /boot, the others /boot<n>, none shared" (
      let
        mps = map (p: p.content.mountpoint) esps;
      in
      lib.elem "/boot" mps && lib.length (lib.unique mps) == lib.length mps
    ) (toString (map (p: p.content.mountpoint) esps)))
    (check "at most one swap partition" (lib.length swaps <= 1) (toString (lib.length swaps)))
  ];

  poolChecks = lib.concatMap (
    p:
    let
      pool = p.name;
      ds = p.datasets;
      members = lib.filter (x: x.name == "zfs" && x.content.pool == pool) allPartitions;
      credstore = ds.credstore or null;
      crypt = ds.crypt or null;
      # A stand-in for a missing credstore, so that the checks below fail instead of the evaluation.
      luks =
        if credstore != null && credstore.type == "zfs_volume" && credstore.content != null then
          credstore.content
        else
          {
            type = "missing";
            name = "";
            device = "";
            passwordFile = null;
            askPassword = true;
            keyFile = null;
            settings = { };
            content = null;
          };
      indexIn = n: lib.lists.findFirstIndex (x: x == n) null p.createOrder;
      fs = lib.filter (d: d.type == "zfs_fs") (lib.attrValues ds);
      mounted = lib.filter (d: d.mountpoint != null && (d.options.mountpoint or "") != "none") fs;
      unmounted = lib.filter (d: !(lib.elem d mounted)) fs;
      at = "zpool ${pool}";
      expectMount =
        name: mp:
        check "${at}: crypt/${name} mounted on ${mp}" (
          (ds ? "crypt/${name}") && ds."crypt/${name}".mountpoint == mp
        ) (toString (ds."crypt/${name}".mountpoint or "missing"));
    in
    [
      (check "${at}: mode matches the member count" (
        if p.mode == "" then lib.length members == 1 else p.mode == "mirror" && lib.length members >= 2
      ) "mode='${toString p.mode}' members=${toString (lib.length members)}")
      (check "${at}: root dataset not mounted, ashift set" (
        p.rootFsOptions.mountpoint or "" == "none" && p.options ? ashift
      ) (builtins.toJSON p.rootFsOptions))
      (check "${at}: credstore is a zvol holding LUKS \"credstore\" with ext4, not mounted" (
        credstore != null
        && credstore.type == "zfs_volume"
        && luks.type == "luks"
        && luks.name == "credstore"
        && luks.device == "/dev/zvol/${pool}/credstore"
        && (luks.content.type or "") == "filesystem"
        && luks.content.format == "ext4"
        && luks.content.mountpoint == null
      ) (builtins.toJSON (credstore.size or null)))
      (check "${at}: credstore LUKS formatted from a passwordFile, no prompt, no deprecated keyFile" (
        luks.passwordFile != null && !luks.askPassword && luks.keyFile == null && !(luks.settings ? keyFile)
      ) (toString luks.passwordFile))
      (check "${at}: crypt is aes-256-gcm, raw key from /etc/credstore, not mounted" (
        crypt != null
        && crypt.type == "zfs_fs"
        && crypt.options.encryption or "" == "aes-256-gcm"
        && crypt.options.keyformat or "" == "raw"
        && lib.hasPrefix "file:///etc/credstore/" (crypt.options.keylocation or "")
        && crypt.options.mountpoint or "" == "none"
      ) (builtins.toJSON (crypt.options or null)))
      (check "${at}: crypt hooks mount the credstore before create and close it after create and mount" (
        let
          hook = n: crypt.hooks.${n} or "";
          closes = h: lib.hasInfix "umount /etc/credstore" h && builtins.match ".*cryptsetup (luksClose|close) [^\n]*credstore.*" h != null;
        in
        lib.hasInfix "/dev/mapper/credstore /etc/credstore" (hook "preCreateHook")
        && closes (hook "postCreateHook")
        && closes (hook "postMountHook")
      ) (lib.concatStringsSep "," (lib.attrNames (crypt.hooks or { }))))
      (check "${at}: credstore is created before crypt (zpool.nix:396, attribute-name order)" (
        indexIn "credstore" != null && indexIn "crypt" != null && indexIn "credstore" < indexIn "crypt"
      ) (lib.concatStringsSep " " p.createOrder))
      (check "${at}: every other dataset is below crypt (encrypted)" (lib.all (
        n: lib.elem n [ "__root" "credstore" "crypt" ] || lib.hasPrefix "crypt/" n
      ) p.createOrder) (lib.concatStringsSep " " p.createOrder))
      (expectMount "system" "/")
      (expectMount "system/nix" "/nix")
      (expectMount "system/var" "/var")
      (check "${at}: every mounted dataset is in fileSystems with zfsutil" (lib.all (
        d:
        let
          f = nixos.fileSystems.${d.mountpoint} or null;
        in
        f != null && f.device == d._name && f.fsType == "zfs" && lib.elem "zfsutil" f.options
      ) mounted) (toString (map (d: d.mountpoint) mounted)))
      (check "${at}: no fileSystems entry for an unmounted dataset" (lib.all (
        d: lib.all (f: f.device != d._name) (lib.attrValues nixos.fileSystems)
      ) unmounted) (toString (map (d: d._name) unmounted)))
      (check "${at}: boot.initrd.luks.devices.credstore = zvol + the LUKS settings (luks.nix:220-236)" (
        let
          dev = nixos.boot.initrd.luks.devices.credstore or null;
        in
        dev != null
        && luks.type == "luks"
        && dev.device == "/dev/zvol/${pool}/credstore"
        && lib.all (k: dev.${k} == luks.settings.${k}) (lib.attrNames luks.settings)
      ) (builtins.toJSON (nixos.boot.initrd.luks.devices.credstore or null)))
    ]
  ) (lib.attrValues zpools);

  configChecks = [
    (check "_config only sets keys that module.nix:307-309 forwards" (lib.all (
      k: lib.elem k forwardedKeys
    ) (lib.attrNames devices._config)) (toString (lib.attrNames devices._config)))
    (check "every ESP is in fileSystems as vfat by partlabel" (lib.all (
      p:
      let
        f = nixos.fileSystems.${p.content.mountpoint} or null;
      in
      f != null && f.fsType == "vfat" && f.device == "/dev/disk/by-partlabel/${p.label}"
    ) esps) (toString (map (p: p.content.mountpoint) esps)))
    (check "swapDevices: one per swap partition, by partlabel, randomEncryption on" (
      lib.length nixos.swapDevices == lib.length swaps
      && lib.all (s: s.randomEncryption.enable) nixos.swapDevices
      && map (s: s.device) nixos.swapDevices == map (p: "/dev/disk/by-partlabel/${p.label}") swaps
    ) (toString (map (s: s.device) nixos.swapDevices)))
    (check "no resumeDevice (random-key swap cannot resume)" (nixos.boot.resumeDevice == "") nixos.boot.resumeDevice)
    (check "nothing is mounted on /etc/credstore by NixOS" (!(nixos.fileSystems ? "/etc/credstore")) "")
  ];

  checks = diskChecks ++ fleetDiskChecks ++ poolChecks ++ configChecks;

  # ---- a short human-readable summary ---------------------------------------------------------

  summary =
    lib.concatMap (
      d:
      [ "disk ${d.name} ${d.device}" ]
      ++ map (
        p:
        "  ${toString p._index} ${p.label} type=${p.type} "
        + (if p.size != "0" then "size=${p.size}" else "end=${p.end}")
        + " -> ${p.content.type}"
        + lib.optionalString (p.content.type == "filesystem") " ${p.content.format} ${toString p.content.mountpoint}"
        + lib.optionalString (p.content.type == "zfs") " pool=${p.content.pool}"
        + lib.optionalString (p.content.type == "swap") " randomEncryption=${lib.boolToString p.content.randomEncryption}"
      ) d.partitions
    ) (lib.attrValues disks)
    ++ lib.concatMap (
      p:
      [ "zpool ${p.name} mode='${toString p.mode}' create order: ${lib.concatStringsSep " " p.createOrder}" ]
      ++ lib.mapAttrsToList (
        n: d:
        "  ${n} ${d.type}"
        + lib.optionalString (d.type == "zfs_fs") " mountpoint=${toString d.mountpoint}"
        + lib.optionalString (d.type == "zfs_volume") " size=${toString d.size} -> ${d.content.type or "-"}"
        + lib.optionalString (d.options != { }) " options=${builtins.toJSON d.options}"
        + lib.optionalString (d.hooks != { }) " hooks=${lib.concatStringsSep "," (lib.attrNames d.hooks)}"
      ) (removeAttrs p.datasets [ "__root" ])
    ) (lib.attrValues zpools)
    ++ [ "NixOS config (module.nix:307-309):" ]
    ++ lib.mapAttrsToList (
      mp: f: "  fileSystems.\"${mp}\" = ${f.device} (${f.fsType}; ${lib.concatStringsSep "," f.options})"
    ) nixos.fileSystems
    ++ lib.mapAttrsToList (
      n: v: "  boot.initrd.luks.devices.${n} = ${builtins.toJSON v}"
    ) nixos.boot.initrd.luks.devices
    ++ map (
      s: "  swapDevices: ${s.device} randomEncryption=${lib.boolToString s.randomEncryption.enable}"
    ) nixos.swapDevices;
in
{
  inherit
    disks
    zpools
    nixos
    checks
    summary
    ;
  meta = devices._meta;
  configKeys = lib.attrNames devices._config;
  packages = map (p: p.name) (devices._packages stubPkgs);
  # D lib/default.nix:938-1122; the scripts that `disko --mode …` and nixos-anywhere run.
  scripts = {
    create = devices._create;
    mount = devices._mount;
    unmount = devices._unmount;
    destroy = devices._destroy;
  };
}
