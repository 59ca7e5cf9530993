import { existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

// Keystone's own flake, shipped beside the CLI (package.json "files"): nixos-anywhere runs from
// its pinned input (`nix run <this>#nixos-anywhere`), not from whatever version is on PATH.
export function keystoneFlakeDir(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url))
  for (;;) {
    if (existsSync(path.join(dir, 'flake.nix')) && existsSync(path.join(dir, 'package.json')))
      return dir
    const parent = path.dirname(dir)
    if (parent === dir) throw new Error('Keystone’s flake.nix is not beside the CLI')
    dir = parent
  }
}
