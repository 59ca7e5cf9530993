#!/usr/bin/env node
import { hideBin } from 'yargs/helpers'
import { runCli } from './run-cli.js'

// The `keystone` binary. Nothing calls process.exit(), so every `finally` that wipes key
// material runs before Node exits with this code.
process.exitCode = await runCli(hideBin(process.argv))
