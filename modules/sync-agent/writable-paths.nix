# What the sync agent writes outside its state directory: the two-way paths and a folder store.
# Under ProtectSystem=strict the agent cannot create them, and a ReadWritePaths= entry that does
# not exist fails the unit with 226/NAMESPACE (systemd.exec(5), ReadWritePaths=: "paths that
# do not exist … prefix with -"), so systemd-tmpfiles creates each at boot, before the agent
# (its services are ordered after sysinit.target, which systemd-tmpfiles-setup.service is part
# of). Builtins only: modules/sync-agent uses it, and the tests evaluate it with the real
# nix-instantiate and apply the rules with the real systemd-tmpfiles.
#
# tmpfiles.d(5): a `d` line creates a missing directory (and its parents); a mode, user or group
# of "-" leaves those of an existing directory alone. The folder store is the agent's own: made
# 0700 root:root (the agent writes it through CAP_DAC_OVERRIDE), and kept so. A two-way path is
# the admin's: made 0755 root:root when missing, its existing mode and owner left as they are.
{
  store,
  # [ { path; mode = "backup" | "two-way"; } ]
  paths,
}:
let
  filePrefix = "file://";
  isFileStore = builtins.substring 0 (builtins.stringLength filePrefix) store == filePrefix;
  fileStore =
    if isFileStore then [ (builtins.substring (builtins.stringLength filePrefix) (-1) store) ] else [ ];
  twoWay = map (p: p.path) (builtins.filter (p: p.mode == "two-way") paths);
  # tmpfiles.d(5): fields are unquoted and C-unescaped, and specifiers (%h, %m, …) expanded:
  # a path is written quoted, with `\`, `"` and `%` escaped.
  tmpfilesPath =
    path: "\"" + builtins.replaceStrings [ "\\" "\"" "%" ] [ "\\\\" "\\\"" "%%" ] path + "\"";
in
{
  inherit fileStore twoWay;
  readWritePaths = twoWay ++ fileStore;
  tmpfilesRules =
    map (path: "d ${tmpfilesPath path} 0700 root root -") fileStore
    ++ map (path: "d ${tmpfilesPath path} - - - -") twoWay;
}
