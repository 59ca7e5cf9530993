# The ZFS partition of each disk that Keystone's generated disko layout creates: the ESP is
# partition 1 and the pool partition 2 on every disk (cli/nix/render-disko.ts gives them disko
# priorities 1 and 2, and disko numbers partitions in priority order: disko lib/types/gpt.nix).
# udev names a partition of /dev/disk/by-id/<disk> /dev/disk/by-id/<disk>-part<N>.
devices: map (device: "${device}-part2") devices
