// The one-line cause of a failed phase, from the last lines of its output: what an admin would
// otherwise dig out of a `--debug` dump (nixos-anywhere#321, #368). Unknown failures fall back to
// the last line that looks like an error.
const CAUSES: [RegExp, string][] = [
  [/No space left on device/i, 'the target ran out of disk space'],
  [/Out of memory|oom-kill|Killed\s*$|Cannot allocate memory/im, 'the target ran out of memory'],
  [/Permission denied \(publickey/i, 'the target refused the SSH key'],
  [
    /Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED/i,
    'the target’s SSH host key changed',
  ],
  [
    /Connection refused|Connection timed out|No route to host|Could not resolve hostname|Connection closed by|Broken pipe/i,
    'lost the SSH connection to the target',
  ],
  [
    /error: (?:attribute|undefined variable|The option|evaluation aborted)|error: .*does not exist/i,
    'the host’s NixOS configuration did not evaluate',
  ],
  [/error: builder for|Cannot build/i, 'a build of the host’s system failed'],
  [
    /unable to download|error: unable to fetch|Could not resolve host/i,
    'a download failed (network or substituter)',
  ],
  [
    /kexec.*(?:failed|not supported)|kexec_load/i,
    'kexec into the installer failed (see the console; boot the Keystone installer ISO instead)',
  ],
]

export function explainFailure(lines: readonly string[]): string {
  const text = lines.join('\n')
  for (const [pattern, cause] of CAUSES) if (pattern.test(text)) return cause
  const errorLine = [...lines].reverse().find((line) => /error|fail|fatal/i.test(line))
  const last = errorLine ?? [...lines].reverse().find((line) => line.trim() !== '')
  return last === undefined ? 'it exited without output' : last.trim().slice(0, 200)
}
