# The keystone CLI, built from this npm package. importNpmLock fetches each dependency with the
# integrity hash recorded in package-lock.json, so no separate dependency hash is kept here
# (nixpkgs doc/languages-frameworks/javascript.section.md, importNpmLock).
{
  lib,
  buildNpmPackage,
  importNpmLock,
  nodejs,
  python3,
}:
let
  packageJson = lib.importJSON ./package.json;
in
buildNpmPackage {
  pname = packageJson.name;
  inherit (packageJson) version;
  inherit nodejs;

  src = lib.fileset.toSource {
    root = ./.;
    fileset = lib.fileset.unions [
      ./package.json
      ./package-lock.json
      ./tsconfig.json
      ./cli
      ./schema
      ./scripts/build-cli.mjs
    ];
  };

  npmDeps = importNpmLock { npmRoot = ./.; };
  # better-sqlite3 (the sync agent's state) compiles its add-on with node-gyp during the
  # install, which needs Python; nixpkgs' own better-sqlite3 package does the same.
  nativeBuildInputs = [ python3 ];
  npmConfigHook = importNpmLock.npmConfigHook;

  # `npm run build` bundles cli/ into dist/ with esbuild (scripts/build-cli.mjs).
  npmBuildScript = "build";

  meta = {
    description = packageJson.description;
    license = lib.licenses.mit;
    mainProgram = "keystone";
    platforms = lib.platforms.linux;
  };
}
