// Keystone's version, from package.json: set by the bundler (scripts/build-cli.mjs); code run
// from the sources (the unit tests) says "dev".
declare const KEYSTONE_VERSION: string | undefined
export const keystoneVersion = typeof KEYSTONE_VERSION === 'string' ? KEYSTONE_VERSION : 'dev'
