# Generated from hosts/unlock1.yaml by `keystone generate unlock1` — do not edit.
# digest: sha256:20703f966b0d7e9e56250a2cab8e80f2
{
  disko.devices = {
    disk = {
      disk0 = {
        type = "disk";
        device = "/dev/disk/by-id/virtio-ks-disk2";
        content = {
          type = "gpt";
          partitions = {
            esp = {
              priority = 1;
              size = "256M";
              type = "EF00";
              content = {
                type = "filesystem";
                format = "vfat";
                mountpoint = "/boot";
                mountOptions = [ "umask=0077" ];
              };
            };
            zfs = {
              priority = 2;
              size = "100%";
              content = {
                type = "zfs";
                pool = "rpool";
              };
            };
          };
        };
      };
      disk1 = {
        type = "disk";
        device = "/dev/disk/by-id/virtio-ks-disk3";
        content = {
          type = "gpt";
          partitions = {
            esp = {
              priority = 1;
              size = "256M";
              type = "EF00";
              content = {
                type = "filesystem";
                format = "vfat";
                mountpoint = "/boot1";
                mountOptions = [ "umask=0077" ];
              };
            };
            zfs = {
              priority = 2;
              end = "-256M";
              content = {
                type = "zfs";
                pool = "rpool";
              };
            };
            swap = {
              priority = 3;
              size = "100%";
              content = {
                type = "swap";
                randomEncryption = true;
              };
            };
          };
        };
      };
    };
    zpool.rpool = {
      type = "zpool";
      mode = "mirror";
      options = {
        ashift = "12";
        autotrim = "on";
      };
      rootFsOptions = {
        mountpoint = "none";
        compression = "zstd";
        acltype = "posixacl";
        xattr = "sa";
        atime = "off";
        "com.sun:auto-snapshot" = "false";
      };
      datasets = {
        credstore = {
          type = "zfs_volume";
          size = "100M";
          content = {
            type = "luks";
            name = "credstore";
            passwordFile = "/run/keystone/credstore-passphrase";
            settings.allowDiscards = true;
            content = {
              type = "filesystem";
              format = "ext4";
            };
          };
        };
        crypt = {
          type = "zfs_fs";
          options = {
            mountpoint = "none";
            encryption = "aes-256-gcm";
            keyformat = "raw";
            keylocation = "file:///etc/credstore/zfs-sysroot.mount";
          };
          preCreateHook = ''
            mountpoint -q /etc/credstore || mount -o X-mount.mkdir /dev/mapper/credstore /etc/credstore
            if ! zfs get type rpool/crypt >/dev/null 2>&1; then
              install -m 0400 /run/keystone/zfs-raw-key /etc/credstore/zfs-sysroot.mount
            fi
          '';
          postCreateHook = ''
            if mountpoint -q /etc/credstore; then umount /etc/credstore; fi
            if cryptsetup status credstore >/dev/null 2>&1; then cryptsetup close credstore; fi
          '';
          preMountHook = ''
            if [ "$(zfs get -H -o value keystatus rpool/crypt)" = unavailable ]; then
              mount -o ro,X-mount.mkdir /dev/mapper/credstore /etc/credstore
            fi
          '';
          postMountHook = ''
            if mountpoint -q /etc/credstore; then umount /etc/credstore; fi
            if cryptsetup status credstore >/dev/null 2>&1; then cryptsetup close credstore; fi
          '';
        };
        "crypt/system" = {
          type = "zfs_fs";
          mountpoint = "/";
        };
        "crypt/system/nix" = {
          type = "zfs_fs";
          mountpoint = "/nix";
          options."com.sun:auto-snapshot" = "false";
        };
        "crypt/system/var" = {
          type = "zfs_fs";
          mountpoint = "/var";
        };
      };
    };
  };
}
