import { execFileSync } from 'node:child_process'

// One gate for tests that need an external tool (STYLE.md §12): on a laptop without it the test
// is skipped with the reason printed; under KEYSTONE_REQUIRE_ALL=1 (CI) a missing tool fails.
export function missingTool(command: string, args: string[] = ['--version']): string | undefined {
  try {
    execFileSync(command, args, { stdio: 'ignore', timeout: 20_000 })
    return undefined
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    return code === 'ENOENT' ? `${command} is not installed` : `${command} ${args.join(' ')} failed`
  }
}

export function requireAll(): boolean {
  return process.env.KEYSTONE_REQUIRE_ALL === '1'
}

// Returns tap's `skip` option: false when the tool is there, the reason otherwise. Throws when
// the tool is missing and every tool is required.
export function needs(command: string, args?: string[]): false | string {
  const missing = missingTool(command, args)
  if (missing === undefined) return false
  if (requireAll()) throw new Error(`KEYSTONE_REQUIRE_ALL=1 but ${missing}`)
  return `skipped: ${missing}`
}
