// The floors of cli/ (docs/architecture.md): each folder imports only from the floors below it,
// and no file takes part in an import cycle. `npm test` runs this (test/scripts/architecture.test.ts),
// and `npm run architecture` does on its own.

// The base every floor stands on: errors and exit codes, configuration paths, the version, Ctrl-C,
// atomic files, and the terminal.
const base = ['^cli/(errors|exit-codes|config|version|interrupt)\\.ts$', '^cli/fs/', '^cli/ui/']

// Bottom to top. `may`: the floors a folder may import besides its own and the base.
const floors = [
  { name: 'base', path: base, may: [] },
  { name: 'host', path: ['^cli/host/'], may: [] },
  { name: 'store', path: ['^cli/store/'], may: [] },
  { name: 'records', path: ['^cli/records/'], may: [] },
  { name: 'vault', path: ['^cli/vault/'], may: [] },
  { name: 'nix', path: ['^cli/nix/'], may: ['host'] },
  { name: 'deploy', path: ['^cli/deploy/'], may: ['host', 'nix', 'vault', 'records'] },
  { name: 'agent', path: ['^cli/agent/'], may: ['store', 'records', 'vault'] },
  { name: 'fleet', path: ['^cli/fleet/'], may: ['host', 'store', 'records'] },
  { name: 'rehearsal', path: ['^cli/rehearsal/'], may: ['host', 'nix', 'deploy'] },
  {
    name: 'commands',
    path: ['^cli/commands/'],
    may: ['host', 'store', 'records', 'vault', 'nix', 'deploy', 'agent', 'fleet', 'rehearsal'],
  },
  { name: 'entry', path: ['^cli/(main|run-cli)\\.ts$'], may: ['commands'] },
]

// Inside the agent, by concern, bottom to top; its own top-level files (init, keys) use them all.
const agentFloors = [
  { name: 'repository', may: [] },
  { name: 'home', may: ['repository'] },
  { name: 'workers', may: ['repository'] },
  { name: 'backup', may: ['repository', 'home', 'workers'] },
  { name: 'restore', may: ['repository', 'home', 'workers'] },
  { name: 'sync', may: ['repository', 'home', 'backup'] },
  { name: 'maintenance', may: ['repository', 'home', 'sync'] },
  { name: 'heartbeat', may: ['repository', 'home'] },
  {
    name: 'daemon',
    may: ['repository', 'home', 'backup', 'restore', 'sync', 'maintenance', 'heartbeat'],
  },
]

const pathsOf = (name) => floors.find((floor) => floor.name === name).path
const agentPath = (name) => `^cli/agent/${name}/`

module.exports = {
  forbidden: [
    {
      name: 'no-cycle',
      comment: 'a file must not reach itself through its imports',
      severity: 'error',
      from: { path: '^cli/' },
      to: { circular: true },
    },
    ...floors.map((floor) => ({
      name: `${floor.name}-imports-only-below`,
      comment: `cli floor ${floor.name} may import: ${['base', ...floor.may].join(', ')}`,
      severity: 'error',
      from: { path: floor.path },
      to: { path: '^cli/', pathNot: [...floor.path, ...base, ...floor.may.flatMap(pathsOf)] },
    })),
    ...agentFloors.map((floor) => ({
      name: `agent-${floor.name}-imports-only-below`,
      comment: `agent/${floor.name} may import: ${floor.may.join(', ') || 'no other part of the agent'}`,
      severity: 'error',
      from: { path: agentPath(floor.name) },
      to: { path: '^cli/agent/', pathNot: [agentPath(floor.name), ...floor.may.map(agentPath)] },
    })),
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // Type-only imports count: they are part of the shape, even if they vanish at run time.
    tsPreCompilationDeps: true,
    exclude: { path: '^(dist|node_modules)/' },
  },
}
