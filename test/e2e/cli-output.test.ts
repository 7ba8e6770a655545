// What an operator sees: tables on a terminal (fitted to its width, 80 columns included) and in a
// pipe (plain kubectl-style rows), colour switches, prompts that check each answer as it is typed
// and Ctrl-C at a prompt, and every problem of a topology or bootstrap input on its own line.
// bin/run.js child processes; pseudo-terminals where a terminal is the point.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'

import Database from 'better-sqlite3'

import {backendsTableDdl} from '../../src/store/schema.js'
import {runCli, tempDir} from '../support/proxy-process.js'
import {plainText, runOnPty} from '../support/pty.js'

function createStore(file: string, rows: Array<{id: string; app: string; ip: string; port: number; region?: string}>): void {
  const db = new Database(file)
  db.exec(backendsTableDdl())
  const insert = db.prepare('INSERT INTO backends (id, app, region, country, wg_ip, port) VALUES (?, ?, ?, ?, ?, ?)')
  for (const r of rows) insert.run(r.id, r.app, r.region ?? 'eu', 'DE', r.ip, r.port)
  db.close()
}

describe('tables', () => {
  const tmp = tempDir('edgeproxy-output-')
  const db = path.join(tmp.dir, 'routing.db')
  const rows = [
    {id: 'eu-frankfurt-backend-with-a-very-long-identifier-01', app: 'checkout-service-production', ip: '2001:db8:1234:5678:9abc:def0:1234:5678', port: 65_000},
    {id: 'eu-2', app: 'web', ip: '10.50.3.2', port: 9000},
    {id: 'eu-3', app: 'api', ip: '10.50.3.3', port: 9001},
  ]
  before(() => createStore(db, rows))
  after(tmp.cleanup)

  test('in a pipe: a header row and plain aligned columns, no box drawing, nothing shortened', async () => {
    const r = await runCli(['backend', 'list', '--db', db])
    assert.equal(r.code, 0, r.stderr)
    const lines = r.stdout.trimEnd().split('\n')
    assert.equal(lines.length, rows.length + 1)
    assert.match(lines[0]!, /^ID {2,}APP {2,}REGION {3}COUNTRY {3}ADDRESS {2,}STATE {2,}CHECK {3}CIRCUIT {3}WEIGHT {3}CONN\/SOFT\/HARD {3}HEARTBEAT$/)
    assert.ok(lines.some((l) => l.startsWith(rows[0]!.id + '   ')), 'the long id whole')
    assert.doesNotMatch(r.stdout, /[│─┌└┼…\u001b]/)
    // Columns line up: the APP column starts at the same offset on every line.
    const at = lines[0]!.indexOf('APP')
    for (const row of rows) assert.equal(lines.find((l) => l.startsWith(`${row.id} `))!.indexOf(row.app), at)
    // awk reads it: the same number of fields on every row.
    for (const line of lines.slice(1)) assert.equal(line.trim().split(/\s+/).length, 11)
  })

  test('on an 80-column terminal: every row fits on one line, the widest columns shortened with …', async () => {
    const r = await runOnPty(['backend', 'list', '--db', db], {columns: 80})
    assert.equal(r.code, 0, r.output)
    const lines = plainText(r.output).trimEnd().split('\n')
    assert.equal(lines.length, rows.length + 1, `one line per row:\n${lines.join('\n')}`)
    for (const line of lines) assert.ok(line.length <= 80, `${line.length} > 80: ${line}`)
    assert.match(lines[1]!, /…/)
    assert.match(lines[0]!, /^ID +APP +RG +CC +ADDR\S* +STATE +CHK +CIRC +W +CONN +BEAT$/, 'short headers where a column has one')
    assert.ok(lines.slice(1).every((l) => /\beu +DE +\S+ +healthy +- +- +2 +-\/100\/150 +-$/.test(l)), `fixed columns keep their values whole:\n${lines.join('\n')}`)
    const wide = await runOnPty(['backend', 'list', '--db', db], {columns: 250})
    assert.doesNotMatch(plainText(wide.output), /…/, 'nothing shortened when it fits')
    assert.ok(plainText(wide.output).includes(rows[0]!.ip))
  })

  test('colour: off with NO_COLOR on a terminal, on with FORCE_COLOR in a pipe', async () => {
    const noColor = await runOnPty(['backend', 'list', '--db', db], {env: {NO_COLOR: '1'}})
    const tableText = noColor.output.slice(noColor.output.indexOf('ID'))
    assert.doesNotMatch(tableText, /\u001b\[3\dm/, 'no colour codes')
    const colour = await runOnPty(['backend', 'list', '--db', db], {env: {NO_COLOR: ''}})
    assert.match(colour.output, /\u001b\[32mhealthy/, 'states in colour on a terminal')
    const forced = await runCli(['backend', 'list', '--db', db], {env: {NO_COLOR: '', FORCE_COLOR: '1'}})
    assert.match(forced.stdout, /\u001b\[32mhealthy\u001b\[39m/)
    // Colour never moves a column.
    const plain = await runCli(['backend', 'list', '--db', db])
    assert.equal(plainText(forced.stdout), plain.stdout)
  })
})

describe('prompts', () => {
  const tmp = tempDir('edgeproxy-prompts-')
  const db = path.join(tmp.dir, 'routing.db')
  before(() => createStore(db, []))
  after(tmp.cleanup)

  test('register re-asks a bad id, IP and port at once, with the rule, and stores the good answers', async () => {
    const clear = '\u0015' // Ctrl-U: clear the line before typing again
    const r = await runOnPty(['backend', 'register', '--db', db], {
      answers: [
        ['Id', 'bad id!\r'],
        ['must be 1-64 characters of A-Z a-z 0-9 . _ -', `${clear}tty-2\r`],
        ['App', 'web\r'],
        ['Region', '\r'],
        ['Address the proxy dials', '10.1.2.300\r'],
        ['must be an IPv4 or IPv6 address literal', `${clear}10.1.2.3\r`],
        ['Port', '70000\r'],
        ['must be a whole number from 1 to 65535', `${clear}9000\r`],
      ],
    })
    assert.equal(r.code, 0, r.output)
    const text = plainText(r.output)
    assert.match(text, /id "bad id!" must be 1-64 characters/)
    assert.match(text, /ip "10\.1\.2\.300" must be an IPv4 or IPv6 address literal/)
    assert.match(text, /port 70000 must be a whole number from 1 to 65535/)
    assert.match(text, /Registered backend tty-2/)
    assert.match(text, /Lease: 60s\. Heartbeats must follow/)
    const list = JSON.parse((await runCli(['backend', 'list', '--db', db, '--json'])).stdout) as {backends: Array<{id: string; ip: string; port: number}>}
    assert.deepEqual(list.backends.map((b) => [b.id, b.ip, b.port]), [['tty-2', '10.1.2.3', 9000]])
  })

  test('Ctrl-C at any prompt exits 130 with no stack trace and writes nothing', async () => {
    const cases: Array<[string[], string]> = [
      [['backend', 'register', '--db', db, '--id', 'c1'], 'App'],
      [['backend', 'register', '--db', db, '--id', 'c1', '--app', 'web'], 'Region'],
      [['corrosion', 'bootstrap', '--name', 'x', '--out', path.join(tmp.dir, 'boot')], 'Region of this host'],
      [['pop', 'generate-config', '--out', path.join(tmp.dir, 'pops')], 'Cluster name'],
    ]
    for (const [args, prompt] of cases) {
      const r = await runOnPty(args, {answers: [[prompt, '\u0003']], cwd: tmp.dir})
      const text = plainText(r.output)
      assert.equal(r.code, 130, `${args.join(' ')}:\n${text}`)
      assert.match(text, /Error: interrupted at a prompt; nothing was written\nCode: EP_PROMPT_CANCELLED\nTry this: /)
      assert.doesNotMatch(text, /\n\s+at .*\(/, 'no stack trace')
    }
    assert.equal(JSON.parse((await runCli(['backend', 'list', '--db', db, '--json'])).stdout).backends.length, 1, 'only the earlier registration')
    assert.ok(!fs.existsSync(path.join(tmp.dir, 'boot')) && !fs.existsSync(path.join(tmp.dir, 'pops')))
  })
})

describe('every problem of an input, one per line', () => {
  test('a topology with seven problems lists all seven; so does a bootstrap with several bad flags', async (t) => {
    const tmp = tempDir('edgeproxy-problems-')
    t.after(tmp.cleanup)
    const topology = path.join(tmp.dir, 'topology.yaml')
    fs.writeFileSync(
      topology,
      [
        'cluster: Bad_Name',
        'ports: {proxy: 0, tls: 70000}',
        'pops:',
        '  - {name: a, region: mars, public_address: 203.0.113.1, wireguard_address: 10.50.1.1}',
        '  - {name: a, region: sa, country: XX, public_address: 203.0.113.1, wireguard_address: 10.99.1.1}',
        '',
      ].join('\n'),
    )
    const r = await runCli(['pop', 'generate-config', '--topology', topology, '--out', path.join(tmp.dir, 'out')])
    assert.equal(r.code, 3, r.stderr)
    const problems = r.stderr.split('\n').filter((l) => l.startsWith('  - '))
    assert.match(r.stderr, new RegExp(`^Error: ${topology.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} has ${problems.length} problems:\n`))
    assert.ok(problems.length >= 7, `all problems listed:\n${r.stderr}`)
    assert.doesNotMatch(r.stderr, /and \d+ more/)
    const j = JSON.parse((await runCli(['pop', 'generate-config', '--topology', topology, '--out', path.join(tmp.dir, 'out'), '--json'])).stdout)
    assert.equal(j.error.problems.length, problems.length)

    const boot = await runCli(['corrosion', 'bootstrap', '--name', 'x', '--region', 'mars', '--gossip-addr', 'host:4001', '--country', 'XX', '--out', path.join(tmp.dir, 'b')])
    assert.equal(boot.code, 3)
    assert.match(boot.stderr, /^Error: 3 problems with the flags:\n {2}- --region "mars" is not a region\n {2}- --country "XX" .*\n {2}- --gossip-addr "host:4001" has a hostname/)
  })
})
