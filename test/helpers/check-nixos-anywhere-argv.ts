// Checks an argv for nixos-anywhere against its flag table (flags, arities, allowed values, as
// read from its argument parser): no unknown or deprecated flag, never --force-kexec (it swallows
// the next argument upstream), the right number of values, values from the allowed sets, at most
// one positional. Returns the problems, empty when the argv is sound.

export interface FlagSpec {
  flags: string[]
  arity: number
  values: string[]
  listValues: string[]
  deprecated: boolean
}

export function checkNixosAnywhereArgv(
  argv: readonly string[],
  table: { flags: FlagSpec[] },
): string[] {
  const byFlag = new Map<string, FlagSpec>()
  for (const spec of table.flags) for (const flag of spec.flags) byFlag.set(flag, spec)
  const problems: string[] = []
  let positionals = 0
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!
    if (!token.startsWith('-')) {
      if (++positionals > 1) problems.push(`a second positional argument \`${token}\``)
      continue
    }
    const spec = byFlag.get(token)
    if (spec === undefined) {
      problems.push(`unknown flag ${token}`)
      continue
    }
    if (spec.deprecated) problems.push(`deprecated flag ${token}`)
    if (token === '--force-kexec')
      problems.push('--force-kexec consumes the next argument upstream; never emit it')
    const values = argv.slice(i + 1, i + 1 + spec.arity)
    if (
      values.length < spec.arity ||
      values.some((value) => value.startsWith('-') && !/^-?\d+$/.test(value))
    ) {
      problems.push(
        `${token} takes ${spec.arity} value${spec.arity === 1 ? '' : 's'}, got ${JSON.stringify(values)}`,
      )
    }
    if (spec.values.length > 0 && values[0] !== undefined && !spec.values.includes(values[0])) {
      problems.push(`${token} ${values[0]}: expected one of ${spec.values.join(', ')}`)
    }
    if (spec.listValues.length > 0 && values[0] !== undefined) {
      for (const item of values[0].split(',')) {
        if (!spec.listValues.includes(item))
          problems.push(`${token}: \`${item}\` is not one of ${spec.listValues.join(', ')}`)
      }
    }
    i += spec.arity
  }
  return problems
}
