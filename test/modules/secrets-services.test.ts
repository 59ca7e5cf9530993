import path from 'node:path'
import t from 'tap'
import { emitNix, type NixValue } from '../../cli/nix/emit.js'
import { needs } from '../helpers/needs.js'
import { evalNixText } from '../helpers/nix.js'

// modules/secrets/services-without-unit.nix, which modules/secrets asserts is empty: a secret
// for a service that nothing runs would make a stub unit with no ExecStart=. Evaluated by the
// real nix-instantiate over values shaped as nixpkgs' systemd.services holds them (every
// service has `script`, "" when unset, and `serviceConfig`).
const file = path.resolve(import.meta.dirname, '../../modules/secrets/services-without-unit.nix')
const skip = needs('nix-instantiate')
const check = (secrets: NixValue, services: NixValue) =>
  evalNixText(`import ${file} ${emitNix({ secrets, services })}`)

// What modules/secrets itself adds to each named service: a credential, no command.
const credentialOnly = {
  script: '',
  serviceConfig: { LoadCredential: ['s3:/var/lib/keystone/secrets/s3'] },
}

t.test(
  'a secret for a service that runs is fine; one for a stub or a missing one is named',
  { skip },
  async (t) => {
    const services = {
      'keystone-sync-agent': {
        script: '',
        serviceConfig: { ExecStart: '/bin/keystone agent run', LoadCredential: [] },
      },
      backup: { script: 'echo run', serviceConfig: {} },
      'keystone-sync-agnet': credentialOnly,
    }
    t.same(
      await check(
        {
          s3: { services: ['keystone-sync-agent', 'backup'] },
          typo: { services: ['keystone-sync-agnet'] },
          gone: { services: ['nginx'] },
        },
        services,
      ),
      [
        { secret: 'gone', service: 'nginx' },
        { secret: 'typo', service: 'keystone-sync-agnet' },
      ],
    )
    t.same(await check({ s3: { services: ['backup'] }, none: { services: [] } }, services), [])
    t.same(await check({}, {}), [])
  },
)
