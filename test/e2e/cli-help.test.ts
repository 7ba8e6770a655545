// The habits operators have: -h/--help on every command and topic, three ways to the version,
// help <cmd>, and shell completion for bash and zsh. Real child processes of bin/run.js.
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import {describe, test} from 'node:test'

import {COMMANDS, runAll} from '../support/cli-runs.js'
import {ROOT, runCli, tempDir} from '../support/proxy-process.js'

const TOPICS = Object.keys((JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {oclif: {topics: Record<string, unknown>}}).oclif.topics)


describe('help and version', () => {
  test('-h and --help work on every command and topic, exit 0', async () => {
    const targets = [...COMMANDS.map((id) => id.split(':')), ...TOPICS.map((t) => [t]), []]
    for (const [args, r] of await runAll(targets, (args) => runCli([...args, '-h']))) {
      assert.equal(r.code, 0, `${args.join(' ')} -h: ${r.stderr}`)
      assert.match(r.stdout, /USAGE|COMMANDS/, `${args.join(' ')} -h prints help`)
    }
    const long = await runCli(['backend', 'list', '--help'])
    assert.equal(long.code, 0)
    assert.equal(long.stdout, (await runCli(['backend', 'list', '-h'])).stdout)
    const viaHelp = await runCli(['help', 'backend', 'list'])
    assert.equal(viaHelp.code, 0)
    assert.equal(viaHelp.stdout, long.stdout)
  })

  test('edgeproxy version, --version and -v print the same line; version --json is an object', async () => {
    const lines = await Promise.all([['version'], ['--version'], ['-v']].map(async (args) => (await runCli(args)).stdout))
    assert.match(lines[0]!, /^edgeproxy\/\d+\.\d+\.\d+ linux-x64 node-v\d+\.\d+\.\d+\n$/)
    assert.deepEqual(new Set(lines).size, 1)
    const j = JSON.parse((await runCli(['version', '--json'])).stdout)
    assert.deepEqual(Object.keys(j), ['version', 'node', 'platform', 'arch'])
    assert.equal(j.node, process.versions.node)
  })
})

describe('shell completion', () => {
  test('edgeproxy autocomplete sets up bash and zsh; bash completes commands and flags as they are typed', async (t) => {
    const home = tempDir('edgeproxy-completion-')
    t.after(home.cleanup)
    const env = {HOME: home.dir, XDG_CACHE_HOME: path.join(home.dir, '.cache')}
    const bash = await runCli(['autocomplete', 'bash'], {env})
    assert.equal(bash.code, 0, bash.stderr)
    assert.match(bash.stdout, /edgeproxy autocomplete script bash/)
    const script = (await runCli(['autocomplete', 'script', 'bash'], {env})).stdout
    const complete = (line: string) => {
      const words = line.split(' ')
      const r = spawnSync('bash', ['-c', `${script}\nCOMP_WORDS=(${words.join(' ')}); COMP_CWORD=${words.length - 1}; COMP_LINE="${line}"; COMP_POINT=\${#COMP_LINE}; _edgeproxy_autocomplete; echo "\${COMPREPLY[*]}"`], {env: {...process.env, ...env}, encoding: 'utf8'})
      assert.equal(r.status, 0, r.stderr)
      return r.stdout.trim()
    }
    assert.equal(complete('edgeproxy backend l'), 'list')
    assert.equal(complete('edgeproxy backend list --st'), '--state')
    assert.equal(complete('edgeproxy ro'), 'route')

    const zsh = await runCli(['autocomplete', 'zsh'], {env})
    assert.equal(zsh.code, 0, zsh.stderr)
    const functions = path.join(home.dir, '.cache/edgeproxy/autocomplete/functions/zsh')
    assert.match(fs.readFileSync(path.join(functions, '_edgeproxy'), 'utf8'), /"list\[List backends/)
    if (spawnSync('sh', ['-c', 'command -v zsh']).status !== 0) {
      t.diagnostic('zsh is not installed (apt-get install zsh): its completion script was generated but not loaded')
      return
    }
    const loaded = spawnSync('zsh', ['-c', `zsh -n ${functions}/_edgeproxy && fpath=(${functions} $fpath) && autoload -Uz compinit && compinit -u -d ${home.dir}/zcompdump && print -r -- \${_comps[edgeproxy]}`], {encoding: 'utf8'})
    assert.equal(loaded.status, 0, loaded.stderr)
    assert.equal(loaded.stdout.trim(), '_edgeproxy')
  })
})

