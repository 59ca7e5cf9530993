import t from 'tap'
import { shippedSchemaText } from '../../cli/host/shipped-schema.js'
import { createAjv, validateHostSchema } from '../../cli/host/validate-schema.js'

// Commands skip ajv's meta-schema check to start faster; this is where it still runs.
t.test('the shipped schema is a valid draft-07 JSON Schema under strict mode', async (t) => {
  const ajv = createAjv()
  const schema = JSON.parse(shippedSchemaText()) as object
  t.equal(ajv.validateSchema(schema), true, ajv.errorsText(ajv.errors))
  t.doesNotThrow(() => ajv.compile(schema))
})

t.test('validation fills in defaults and explains a wrong value', async (t) => {
  const host = {
    name: 'web9',
    system: 'x86_64-linux',
    role: 'server',
    hostId: '8425e349',
    ssh: { address: '192.0.2.9' },
    admins: [{ name: 'alice', sshKeys: ['ssh-ed25519 AAAA'] }],
    storage: { disks: ['/dev/disk/by-id/nvme-x'] },
  }
  const ok = validateHostSchema(structuredClone(host))
  t.equal(ok.ok, true)
  t.match(ok, { value: { ssh: { port: 22, user: 'root' }, tpm: { enable: true, pcrs: [1, 7] } } })
  const bad = validateHostSchema({ ...structuredClone(host), storage: { disks: ['/dev/sda'] } })
  t.match(bad, {
    ok: false,
    problems: [
      {
        path: ['storage', 'disks', 0],
        message: 'expected a /dev/disk/by-id/ path, got `/dev/sda`',
      },
    ],
  })
})
