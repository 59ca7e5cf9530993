{
  description = "Keystone: run a fleet of encrypted, self-healing NixOS machines from one git repository";

  # Pinned in flake.lock. disko, Lanzaboote and nixos-anywhere follow this nixpkgs so that a host
  # evaluates against one package set.
  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-26.05";
    disko = {
      url = "github:nix-community/disko";
      inputs.nixpkgs.follows = "nixpkgs";
    };
    lanzaboote = {
      url = "github:nix-community/lanzaboote";
      inputs.nixpkgs.follows = "nixpkgs";
    };
    nixos-anywhere = {
      url = "github:nix-community/nixos-anywhere";
      inputs.nixpkgs.follows = "nixpkgs";
      inputs.disko.follows = "disko";
      inputs.nixos-stable.follows = "nixpkgs";
    };
  };

  outputs =
    {
      self,
      nixpkgs,
      disko,
      lanzaboote,
      nixos-anywhere,
      ...
    }:
    let
      inherit (nixpkgs) lib;
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
      systemOf = pkgs: pkgs.stdenv.hostPlatform.system;
    in
    {
      # One module per concern, each with the upstream module it builds on; `default` has them
      # all. Import either `default` or single concerns, not both.
      nixosModules = {
        disk.imports = [
          disko.nixosModules.disko
          ./modules/disk
        ];
        tpm = ./modules/tpm;
        secure-boot.imports = [
          lanzaboote.nixosModules.lanzaboote
          ./modules/secure-boot
        ];
        remote-unlock = ./modules/remote-unlock;
        users = ./modules/users;
        roles = ./modules/roles;
        mesh = ./modules/mesh;
        sync-agent = ./modules/sync-agent;
        secrets = ./modules/secrets;
        # Not in `default`: it turns a configuration into an installer ISO.
        installer = ./modules/installer;
        default.imports = [
          disko.nixosModules.disko
          lanzaboote.nixosModules.lanzaboote
          ./modules
        ];
      };

      lib = import ./lib {
        inherit (lib) nixosSystem;
        keystoneModules = self.nixosModules;
      };

      # The example fleet in hosts/, as a user's fleet repository would declare its own.
      nixosConfigurations = self.lib.mkFleet { hosts = ./hosts; };

      packages = forAllSystems (pkgs: {
        keystone = pkgs.callPackage ./package.nix { };
        default = self.packages.${systemOf pkgs}.keystone;
        # `keystone deploy` runs exactly this pinned nixos-anywhere.
        nixos-anywhere = nixos-anywhere.packages.${systemOf pkgs}.nixos-anywhere;
        installer-iso = import ./lib/installer-iso.nix {
          inherit (lib) nixosSystem;
          installerModule = self.nixosModules.installer;
          system = systemOf pkgs;
          sshKeys = lib.unique (
            lib.concatMap (
              host: lib.concatMap (admin: admin.sshKeys) (lib.attrValues host.config.keystone.users.admins)
            ) (lib.attrValues self.nixosConfigurations)
          );
        };
      });

      apps = forAllSystems (
        pkgs:
        let
          packages = self.packages.${systemOf pkgs};
        in
        {
          keystone = {
            type = "app";
            program = lib.getExe packages.keystone;
            meta.description = "The Keystone CLI";
          };
          default = self.apps.${systemOf pkgs}.keystone;
          nixos-anywhere = {
            type = "app";
            program = lib.getExe packages.nixos-anywhere;
            meta.description = "The nixos-anywhere that keystone deploy runs";
          };
        }
      );

      # Everything the test suite uses (`npm test`), so that no test skips inside `nix develop`.
      devShells = forAllSystems (pkgs: {
        default = pkgs.mkShell {
          packages = [
            pkgs.nodejs
            pkgs.nix
            pkgs.nixfmt
            pkgs.shellcheck
            pkgs.swtpm
            pkgs.tpm2-tools
            pkgs.cryptsetup
            pkgs.openssh
            pkgs.age
            pkgs.sbctl
            # The sync agent: MinIO is the S3 server of its tests; restic, rclone and GNU time
            # run bench/sync.sh; python3 builds better-sqlite3's add-on.
            pkgs.minio
            pkgs.restic
            pkgs.rclone
            pkgs.time
            pkgs.python3
            pkgs.jq
            pkgs.strace
            pkgs.util-linux
            pkgs.openssl
            pkgs.git
            pkgs.procps
            pkgs.qemu
          ];
        };
      });

      formatter = forAllSystems (pkgs: pkgs.nixfmt);

      # VM tests need KVM; they run on x86_64-linux (.github/workflows/flake-check.yml).
      checks.x86_64-linux = import ./checks {
        pkgs = nixpkgs.legacyPackages.x86_64-linux;
        inherit self nixpkgs;
      };
    };
}
