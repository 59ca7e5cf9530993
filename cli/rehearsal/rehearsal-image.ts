import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { cacheDir } from '../config.js'
import { keystoneFlakeDir } from '../deploy/keystone-flake.js'
import { UserError } from '../errors.js'

// The rehearsal machine's guest, as scripts/build-rehearsal-image.sh leaves it in the cache: the
// directory is named after the script's own hash, so the CLI finds exactly the image that the
// script beside it builds, and an image of an older script is never used by mistake.

export interface RehearsalImage {
  dir: string
  kernel: string
  initrd: string
  // ext4 image of the guest's root file system, used read-only behind a per-machine overlay.
  root: string
  manifest: {
    kernel: string
    zfs: string
    systemd: string
    // `ssh-ed25519 AAAA…`: the guest's host key, pinned by every connection to it.
    sshHostKey: string
  }
}

export const BUILD_SCRIPT = 'scripts/build-rehearsal-image.sh'

export function rehearsalImageDir(source = keystoneFlakeDir()): string {
  const script = readFileSync(path.join(source, BUILD_SCRIPT))
  const key = createHash('sha256').update(script).digest('hex').slice(0, 16)
  return path.join(cacheDir(), 'rehearsal', key)
}

export function loadRehearsalImage(dir = rehearsalImageDir()): RehearsalImage {
  const manifestFile = path.join(dir, 'manifest.json')
  if (!existsSync(manifestFile))
    throw new UserError(`the rehearsal machine's guest image is not built (${dir})`, {
      hint: `build it once (about 15 minutes, as root): \`sudo bash ${BUILD_SCRIPT}\``,
    })
  const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as RehearsalImage['manifest']
  return {
    dir,
    kernel: path.join(dir, 'vmlinuz'),
    initrd: path.join(dir, 'initrd.img'),
    root: path.join(dir, 'root.img'),
    manifest,
  }
}
