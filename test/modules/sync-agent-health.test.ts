import { chmod, mkdir, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import t from 'tap'
import { cpioArchive } from '../../cli/rehearsal/cpio.js'
import { renderUnits, type Units } from '../../cli/rehearsal/render-units.js'
import { loadUnitGraph, stoppedWith, unitRoot, verifyUnits } from '../helpers/unit-graph.js'
import { needs } from '../helpers/needs.js'
import { evalNixText } from '../helpers/nix.js'

// modules/sync-agent/health-units.nix, the agent's health check: evaluated by the real
// nix-instantiate, rendered into unit files as NixOS renders systemd.services/timers, verified by
// the real systemd-analyze and walked as a unit graph. The agent's own unit is a stand-in here
// (its ExecStart is the module's, its hardening is not under test).
const file = path.resolve(import.meta.dirname, '../../modules/sync-agent/health-units.nix')
const skip = needs('nix-instantiate') || needs('systemd-analyze') || needs('cpio')
const AGENT = 'keystone-sync-agent'

const evalHealth = () =>
  evalNixText(
    `import ${file} { unit = "${AGENT}"; keystone = "/usr/bin/keystone"; systemctl = "/usr/bin/systemctl"; agentUser = { DynamicUser = true; User = "${AGENT}"; StateDirectory = "${AGENT}"; }; }`,
  ) as Promise<Required<Pick<Units, 'services' | 'timers'>>>

t.test(
  'the health timer runs only while the agent runs, and a failed check never starts a stopped agent (the agent’s unit a stand-in)',
  { skip },
  async (t) => {
    const health = await evalHealth()
    const timer = health.timers[`${AGENT}-health`]!
    t.same(timer.wantedBy, [`${AGENT}.service`], 'started with the agent, not by timers.target')
    t.same(timer.partOf, [`${AGENT}.service`])
    t.equal(
      health.services[`${AGENT}-restart`]!.serviceConfig!.ExecStart,
      `/usr/bin/systemctl try-restart ${AGENT}.service`,
      'systemctl(1) try-restart: nothing when the agent is not running',
    )
    t.equal(health.services[`${AGENT}-health`]!.unitConfig!.OnFailure, `${AGENT}-restart.service`)

    const units: Units = {
      ...health,
      services: {
        ...health.services,
        [AGENT]: {
          description: 'Keystone sync agent',
          wantedBy: ['multi-user.target'],
          serviceConfig: { ExecStart: '/usr/bin/keystone agent run /var/lib/important' },
        },
      },
    }
    const root = await unitRoot(cpioArchive(renderUnits(units).entries))
    t.teardown(() => rm(root, { recursive: true, force: true }))
    // verify checks that each ExecStart= names an executable; these are never run.
    await mkdir(path.join(root, 'usr/bin'), { recursive: true })
    for (const tool of ['keystone', 'systemctl']) {
      await writeFile(path.join(root, 'usr/bin', tool), '#!/bin/sh\n')
      await chmod(path.join(root, 'usr/bin', tool), 0o755)
    }
    t.same(
      await verifyUnits(root, [
        `${AGENT}.service`,
        `${AGENT}-health.timer`,
        `${AGENT}-health.service`,
        `${AGENT}-restart.service`,
      ]),
      [],
      'systemd-analyze verify has nothing to say',
    )

    const graph = await loadUnitGraph(root)
    t.same(graph.get(`${AGENT}.service`)?.get('Wants'), [`${AGENT}-health.timer`])
    const wantedByTimers = graph.get('timers.target')?.get('Wants') ?? []
    t.notOk(wantedByTimers.includes(`${AGENT}-health.timer`), 'timers.target does not start it')
    t.match(
      stoppedWith(graph, [`${AGENT}.service`]).get(`${AGENT}-health.timer`),
      /\(PartOf=keystone-sync-agent\.service\)$/,
      'stopping the agent stops its timer',
    )
  },
)
