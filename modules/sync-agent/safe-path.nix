# The paths the sync agent's unit takes (ExecStart=, ReadWritePaths=, tmpfiles.d): absolute, in
# their plain form (no `.` or `..` segments, no `//` or trailing `/`) and from a small alphabet,
# so that nothing in them reads as a unit-file separator, a systemd specifier (`%`), a
# substitution (`$`) or a line end. The same rule as the CLI's cli/host/safe-path.ts; a test holds
# the two to the same cases. Builtins only, so that it evaluates without nixpkgs.
let
  segments = path: builtins.filter builtins.isString (builtins.split "/" path);
in
{
  isSafePath =
    path:
    builtins.isString path
    && builtins.match "/|(/[A-Za-z0-9_.+@,=:-]+)+" path != null
    && !(builtins.any (s: s == "." || s == "..") (segments path));
}
