import { execFile } from 'node:child_process'
import path from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { needs } from '../helpers/needs.js'

// modules/mesh trusts the mesh interface in the firewall. networking.firewall.trustedInterfaces
// is a list (nixpkgs nixos/modules/services/networking/firewall.nix): plain definitions from
// several modules are concatenated, while a lib.mkDefault one is dropped as soon as the user
// defines any — the user's own trusted interfaces then silently untrusted the mesh. Read from
// the module as the real nix-instantiate parses it: nixpkgs' module system cannot run here.
const run = promisify(execFile)
const module = path.resolve(import.meta.dirname, '../../modules/mesh/default.nix')

t.test(
  'the mesh interface is added to trustedInterfaces, not a default that a user list replaces (read from the parsed module)',
  { skip: needs('nix-instantiate') },
  async (t) => {
    const { stdout } = await run('nix-instantiate', ['--parse', module])
    const definition = /trustedInterfaces = (.*?); \}/.exec(stdout)?.[1]
    t.equal(definition, '[ ((config).services.tailscale.interfaceName) ]')
  },
)
