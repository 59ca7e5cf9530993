# The keystone CLI, built from this npm package. importNpmLock fetches each dependency with the
# integrity hash recorded in package-lock.json, so no separate dependency hash is kept here
# (nixpkgs doc/languages-frameworks/javascript.section.md, importNpmLock).
{
  lib,
  buildNpmPackage,
  importNpmLock,
  nodejs,
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
