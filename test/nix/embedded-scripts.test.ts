import { execFile, execFileSync } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { availableParallelism, tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import fc from 'fast-check'
import t from 'tap'
import { mapLimit } from '../../cli/fs/map-limit.js'
import {
  extractShellScripts,
  readIndentedString,
  shellPlaceholder,
  SHELL_ATTRIBUTES,
  type EmbeddedScript,
} from '../helpers/nix-shell-scripts.js'
import { needs } from '../helpers/needs.js'
import { evalNixText, nixParse } from '../helpers/nix.js'

// Shell scripts embedded in the Nix files (systemd scripts, disko hooks, writeShellScript bodies)
// pass shellcheck like the scripts in scripts/ do. The extractor is tested on inline snippets
// first, then held to nix-instantiate, then run over the repository.
const root = path.resolve(import.meta.dirname, '../..')
const run = promisify(execFile)
const IN_FLIGHT = Math.max(2, Math.min(8, availableParallelism()))
const nix = (...lines: string[]) => lines.join('\n') + '\n'
const scriptsOf = (source: string) =>
  extractShellScripts(source, 'x.nix').map(({ line, attribute, script }) => ({
    line,
    attribute,
    script,
  }))

const SNIPPETS = {
  systemd: nix(
    '{',
    '  systemd.services.backup = {',
    "    script = ''",
    '      set -eu',
    '      if true; then',
    '        echo ok',
    '      fi',
    "    '';",
    '  };',
    '}',
  ),
  escapes: nix(
    '{',
    "  postStart = ''",
    "    echo '''quoted''' ''$HOME ''${USER} $${literal}",
    "    printf 'a''\\tb''\\nc' ''\\\\",
    "  '';",
    '}',
  ),
  interpolations: nix(
    '{ pkgs, lib, cfg }:',
    '{',
    "  script = ''",
    '    ${lib.concatMapStringsSep "\\n" (n: "echo ${n} }") (lib.attrNames { a = 1; })}',
    '    echo "${cfg.dir}" ${toString (builtins.length [ "}" ])}',
    "    ${/* } */ pkgs.hello}/bin/hello # ${\"''\"} ${builtins.head [ ''}'' ]}",
    '    ${cfg.x # }',
    '    }',
    "  '';",
    '}',
  ),
  selection: nix(
    '{ lib, ... }:',
    '{',
    "  # script = '' echo commented out '';",
    "  systemd.services.a.preStart = lib.mkAfter ''",
    '    echo a',
    "  '';",
    '  systemd.services.a.script = "echo not an indented string";',
    "  testScript = ''",
    '    machine.succeed("rm -rf $1")',
    "  '';",
    "  foldl' = x: x;",
    "  services.x.postStart = ''echo b'';",
    '}',
  ),
  wrappers: nix(
    '{ pkgs, lib, ... }:',
    'let',
    "  importPool = ''",
    '    zpool import -N rpool',
    "  '';",
    '  tool = pkgs.writeShellApplication {',
    '    name = "tool";',
    "    text = ''",
    '      echo tool',
    "    '';",
    '  };',
    'in',
    '{',
    '  systemd.services.a.script = importPool;',
    '  systemd.services.b.serviceConfig.ExecStart = pkgs.writeShellScript "b-start" \'\'',
    '    exec ${tool}/bin/tool',
    "  '';",
    '  systemd.services.c.serviceConfig.ExecStop = "${pkgs.writeShellScriptBin "c-stop" \'\'',
    '    echo stop',
    "  ''}/bin/c-stop\";",
    "  environment.etc.motd.text = ''",
    '    Welcome $USER',
    "  '';",
    "  options.x.description = ''",
    '    Not a script: rm -rf $1',
    "  '';",
    '  system.activationScripts.keystone = lib.stringAfter [ "users" ] \'\'',
    '    install -d -m 0700 /var/lib/keystone',
    "  '';",
    '}',
  ),
  finding: nix('{', "  systemd.services.clean.script = ''", '    rm -rf $1', "  '';", '}'),
  disabled: nix(
    '{',
    "  systemd.services.clean.script = ''",
    '    # shellcheck disable=SC2086',
    '    rm -rf $1',
    "  '';",
    '}',
  ),
  placeholders: nix(
    '{ pkgs, lib, cfg }:',
    '{',
    "  script = ''",
    '    ${pkgs.coreutils}/bin/install -d "${cfg.dir}" ${lib.escapeShellArg cfg.dir}',
    '    export KEYSTONE_${cfg.name}=1',
    '    if [ "$(cat /proc/loadavg)" -gt ${toString cfg.max} ]; then echo "$(( ${toString cfg.n} + 1 ))"; fi',
    '    for device in ${lib.escapeShellArgs cfg.devices}; do echo "$device"; done',
    '    ${lib.optionalString cfg.debug "set -x"}',
    '    curl "http://localhost:${toString cfg.port}/" "\'\'${KEYSTONE_URL:-${cfg.url}}"',
    "    trap '${pkgs.zfs}/bin/zpool export ${cfg.pool} || true' ERR",
    "  '';",
    '}',
  ),
}

// The attributes whose '' … '' value is a shell script, as the extractor must know them.
const SCRIPT_ATTRIBUTES = [
  ...['script', 'preStart', 'postStart', 'preStop', 'postStop', 'text', 'shellHook'],
  ...['preCreateHook', 'postCreateHook', 'preMountHook', 'postMountHook', 'extraCommands'],
  ...['postCommands', 'preLVMCommands', 'postDeviceCommands', 'postMountCommands'],
]

t.test('the extractor knows every script attribute, and testScript is not one', async (t) => {
  t.same([...SHELL_ATTRIBUTES].sort(), [...SCRIPT_ATTRIBUTES].sort())
})

t.test('a systemd script is dedented and keeps the file line of each of its lines', async (t) => {
  const [script, ...rest] = extractShellScripts(SNIPPETS.systemd, 'x.nix')
  t.same(rest, [])
  t.same(script, {
    file: 'x.nix',
    line: 3,
    attribute: 'script',
    script: 'set -eu\nif true; then\n  echo ok\nfi\n',
    lines: [4, 5, 6, 7],
  })
})

t.test("escapes read as Nix reads them: ''' ''$ ''\\t ''\\n ''\\\\ and $${", async (t) => {
  const [script] = extractShellScripts(SNIPPETS.escapes, 'x.nix')
  t.equal(script?.script, "echo ''quoted'' $HOME ${USER} $${literal}\nprintf 'a\tb\nc' \\\n")
  t.same(script?.lines, [3, 4, 4], 'an escaped newline starts a script line, not a file line')
})

t.test('interpolations are skipped whole: braces, strings and comments inside', async (t) => {
  t.same(scriptsOf(SNIPPETS.interpolations), [
    {
      line: 3,
      attribute: 'script',
      script: [
        '/nix/store/interpolated',
        'echo "/nix/store/interpolated" /nix/store/interpolated',
        '/nix/store/interpolated/bin/hello # /nix/store/interpolated /nix/store/interpolated',
        '/nix/store/interpolated',
        '',
      ].join('\n'),
    },
  ])
})

t.test('two scripts in a file; comments, "strings" and testScript are not scripts', async (t) => {
  t.same(scriptsOf(SNIPPETS.selection), [
    { line: 4, attribute: 'preStart', script: 'echo a\n' },
    { line: 12, attribute: 'postStart', script: 'echo b' },
  ])
})

t.test(
  'writeShellScript(Bin), writeShellApplication, activation and let-bound bodies are scripts',
  async (t) => {
    t.same(
      scriptsOf(SNIPPETS.wrappers).map(({ line, attribute }) => `${line} ${attribute}`),
      ['3 importPool', '8 text', '15 ExecStart', '18 writeShellScriptBin "c-stop"', '27 keystone'],
      'environment.etc text and option descriptions are left alone',
    )
  },
)

t.test('placeholders fit where the interpolation stands', async (t) => {
  t.equal(shellPlaceholder('cp '), '/nix/store/interpolated')
  t.equal(shellPlaceholder('echo "'), '/nix/store/interpolated')
  t.equal(shellPlaceholder('export KEYSTONE_'), '_interpolated')
  t.equal(shellPlaceholder('x\necho $(( '), '1')
  t.equal(shellPlaceholder('[ "$n" -gt '), '1')
  t.equal(shellPlaceholder('(( n )) && echo '), '/nix/store/interpolated')
  t.match(shellPlaceholder('for d in '), /^\S+ \S+$/)
})

t.test('broken Nix is reported at its place instead of being read past', async (t) => {
  t.throws(() => extractShellScripts("{\n  script = ''\n    echo ${x\n", 'b.nix'), /^b\.nix:3:10: /)
  t.throws(() => extractShellScripts("{\n  script = ''\n    echo\n", 'b.nix'), /^b\.nix:2:12: /)
  t.throws(() => extractShellScripts('{ a = "x; }', 'b.nix'), /^b\.nix:1:7: unterminated/)
  t.throws(() => extractShellScripts('{ }\n}', 'b.nix'), /^b\.nix:2:1: unmatched }/)
})

t.test('the snippets above are valid Nix', { skip: needs('nix-instantiate') }, async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'keystone-snippets-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  for (const [name, source] of Object.entries(SNIPPETS)) {
    const file = path.join(dir, `${name}.nix`)
    await writeFile(file, source)
    await t.resolves(nixParse(file), name)
  }
})

// Pieces that make indented strings hard: every escape, lone quotes and dollars, indentation next
// to escapes and interpolations, and interpolations holding braces, strings and comments. Pieces
// holding quotes start with a space so that a `$` before them cannot make them literal text.
const PIECES = [' ', '  ', '    ', '\n', '\n  ', '\t', 'a', 'echo hi', '"', '\\', '#', "'a"]
  .concat(["'''", "''$", "''\\n", "''\\t", "''\\\\", "''\\x", "''\\ ", '$', '$$', '$\n'])
  .concat([
    '${x}',
    '$${x}',
    "'${x}",
    '${x # }\n}',
    '${ /* } */ x}',
    '${let y = { a = x; }; in y.a}',
  ])
  .concat([
    ' ${"${x}" + ""}',
    " ${builtins.head [ ''@'' ]}",
    ' ${builtins.replaceStrings [ "}" ] [ "" ] x}',
  ])

t.test(
  'random indented strings read exactly as nix-instantiate evaluates them',
  { skip: needs('nix-instantiate') },
  async (t) => {
    const seed = Number(process.env.KEYSTONE_SEED ?? Math.floor(Math.random() * 2 ** 31))
    t.comment(`seed ${seed} (rerun with KEYSTONE_SEED=${seed})`)
    const body = fc.array(fc.constantFrom(...PIECES), { maxLength: 14 }).map((p) => p.join(''))
    const bodies = fc.sample(body, { numRuns: 2000, seed })
    let source = 'let x = "@"; in [\n'
    const offsets = bodies.map((b) => {
      const offset = source.length
      source += `''${b}''\n`
      return offset
    })
    source += ']\n'
    // One evaluation for all strings keeps the run fast; a mismatch still names its input.
    const evaluated = (await evalNixText(source)) as string[]
    const mismatches = bodies.flatMap((b, i) => {
      const ours = readIndentedString(source, offsets[i]!, () => '@')
      return ours === evaluated[i] ? [] : [{ body: b, nix: evaluated[i], ours }]
    })
    t.same(mismatches.slice(0, 3), [], `all ${bodies.length} strings read as Nix reads them`)
  },
)

interface Finding {
  line: number
  code: number
  level: string
  message: string
}

// shellcheck's findings on one script, each at the .nix line it comes from. SC1091: the files a
// script sources are not there to follow.
async function shellcheck(script: EmbeddedScript): Promise<string[]> {
  const args = ['-s', 'bash', '-e', 'SC1091', '-f', 'json1', '-']
  const pending = run('shellcheck', args, { maxBuffer: 16 * 2 ** 20 })
  pending.child.stdin?.end(`#!/usr/bin/env bash\n${script.script}`)
  const stdout = await pending.then(
    (result) => result.stdout,
    (error: { code?: unknown; stdout?: string; stderr?: string }) => {
      if (error.code === 1 && error.stdout) return error.stdout
      throw new Error(`shellcheck failed on ${script.file}:${script.line}: ${error.stderr}`)
    },
  )
  const scriptLines = script.script.split('\n')
  return (JSON.parse(stdout) as { comments: Finding[] }).comments.map((finding) => {
    const at = finding.line - 2
    const where = `${script.file}:${script.lines[at] ?? script.line}`
    const text = scriptLines[at]?.trim() ?? ''
    return `${where}: SC${finding.code} (${finding.level}): ${finding.message} | ${text}`
  })
}

const checkSnippet = (source: string, file: string) =>
  Promise.all(extractShellScripts(source, file).map(shellcheck)).then((all) => all.flat())

t.test(
  'a real finding fails the check at its .nix line',
  { skip: needs('shellcheck') },
  async (t) => {
    const findings = await checkSnippet(SNIPPETS.finding, 'clean.nix')
    t.match(findings, [/^clean\.nix:3: SC2086 \(info\): Double quote .* \| rm -rf \$1$/])
    t.equal(findings.length, 1)
  },
)

t.test(
  'a shellcheck directive at the top of a script applies to all of it',
  { skip: needs('shellcheck') },
  async (t) => {
    t.same(await checkSnippet(SNIPPETS.disabled, 'clean.nix'), [])
  },
)

t.test(
  'placeholders pass shellcheck wherever an interpolation stands',
  { skip: needs('shellcheck') },
  async (t) => {
    t.same(await checkSnippet(SNIPPETS.placeholders, 'p.nix'), [])
  },
)

// Where modules, checks, the library and hosts keep their scripts; flake.nix for a devShell's
// shellHook.
const SCRIPT_ROOTS = ['modules/', 'checks/', 'lib/', 'hosts/', 'flake.nix']

function listScriptFiles(): string[] {
  const args = ['ls-files', '-z', '--cached', '--others', '--exclude-standard', '--', '*.nix']
  return execFileSync('git', args, { cwd: root, encoding: 'utf8' })
    .split('\0')
    .filter((file) => file.endsWith('.nix') && SCRIPT_ROOTS.some((r) => file.startsWith(r)))
    .sort()
}

// A plain-text search for `hook = ''` lines, to hold the scanner to: it must not lose its place in
// a file and miss a script (text is left out: it is a script only inside writeShellApplication).
function assignedLines(source: string): string[] {
  const attributes = SCRIPT_ATTRIBUTES.filter((a) => a !== 'text').join('|')
  const pattern = new RegExp(
    String.raw`^[^#\n]*?\b(${attributes})\s*=\s*(?:lib\.mk\w+\s+)?''`,
    'gm',
  )
  return [...source.matchAll(pattern)].map((m) => {
    const line = source.slice(0, m.index).split('\n').length
    return `${line} ${m[1]}`
  })
}

t.test(
  'every script embedded in the .nix files passes shellcheck',
  { skip: needs('shellcheck') },
  async (t) => {
    const files = listScriptFiles()
    t.ok(
      files.some((f) => f.startsWith('hosts/')),
      `found ${files.length} .nix files`,
    )
    const extracted = await mapLimit(files, IN_FLIGHT, async (file) => {
      const source = await readFile(path.join(root, file), 'utf8')
      try {
        return { file, source, scripts: extractShellScripts(source, file), error: '' }
      } catch (error) {
        return { file, source, scripts: [], error: String(error) }
      }
    })
    for (const { file, source, scripts, error } of extracted) {
      const found = scripts.map((s) => `${s.line} ${s.attribute}`)
      const missed = assignedLines(source).filter((line) => !found.includes(line))
      if (error || missed.length > 0) {
        t.test(`${file} is read whole`, async (t) => {
          t.equal(error, '', 'the extractor reads the file')
          t.same(missed, [], 'every script attribute is extracted')
        })
      }
    }
    const scripts = extracted.flatMap((e) => e.scripts)
    t.ok(scripts.length >= 12, `found ${scripts.length} embedded scripts`)
    const findings = await mapLimit(scripts, IN_FLIGHT, shellcheck)
    scripts.forEach((script, i) => {
      t.test(`${script.file}:${script.line} ${script.attribute}`, async (t) => {
        t.same(findings[i], [], 'passes shellcheck -s bash')
      })
    })
  },
)
