import type { Repository } from '../repository/repository.js'
import type { AgentState } from '../home/state.js'

// Brings the local list of known blobs up to date with the repository's indexes: reads the ones
// not seen yet (other devices' backups). If an index this device saw is gone, a prune rewrote
// them: everything indexed is forgotten and read again, so a backup never reuses a blob whose
// pack was deleted. One LIST when nothing changed.
export async function syncIndexes(repo: Repository, state: AgentState): Promise<number> {
  const names = (await repo.list('index/')).map((o) => o.name)
  const present = new Set(names)
  const seen = state.seenIndexes()
  if ([...seen].some((name) => !present.has(name))) state.forgetIndexes()
  const fresh = names.filter((name) => !state.seenIndexes().has(name))
  for (const name of fresh) state.addIndexed(name, await repo.readIndex(name))
  return fresh.length
}
