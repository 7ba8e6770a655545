// The CLI as an operator meets it before any command does its work: oclif's own failures (unknown
// flag or command, a value outside a flag's choices, a missing argument) in the one error format,
// as text and as JSON, with a suggestion that fits the command; URL flags that are not http(s)
// URLs. Real child processes of bin/run.js.
import assert from 'node:assert/strict'
import {describe, test} from 'node:test'

import {COMMANDS, MANIFEST_COMMANDS, runAll} from '../support/cli-runs.js'
import {runCli, type Exit} from '../support/proxy-process.js'



const FORMAT = /^Error: (.+)\nCode: (EP_[A-Z_]+)\nTry this: (.+)\n$/s

function textError(r: Exit): {message: string; code: string; suggestion: string} {
  const m = r.stderr.match(FORMAT)
  assert.ok(m, `the three-line error format on stderr, got:\n${r.stderr}`)
  return {message: m[1]!, code: m[2]!, suggestion: m[3]!}
}

function jsonError(r: Exit): {code: string; message: string; suggestion: string; exit: number} {
  assert.equal(r.stderr, '', 'nothing on stderr under --json')
  return (JSON.parse(r.stdout) as {error: {code: string; message: string; suggestion: string; exit: number}}).error
}

describe('usage errors of every command', () => {
  test('an unknown flag: exit 2, EP_USAGE, the command and its --help named; JSON under --json', async () => {
    for (const [id, r] of await runAll(COMMANDS, (id) => runCli([...id.split(':'), '--no-such-flag']))) {
      const typed = id.replaceAll(':', ' ')
      assert.equal(r.code, 2, `${typed}: ${r.stderr}`)
      const e = textError(r)
      assert.equal(e.code, 'EP_USAGE')
      assert.equal(e.message, `unknown flag --no-such-flag for edgeproxy ${typed}`)
      assert.match(e.suggestion, new RegExp(`edgeproxy ${typed} --help`))
    }
    const withJson = COMMANDS.filter((id) => MANIFEST_COMMANDS[id]!.enableJsonFlag)
    assert.ok(withJson.length >= 15, `every finite command has --json (${withJson.length})`)
    for (const [id, r] of await runAll(withJson, (id) => runCli([...id.split(':'), '--no-such-flag', '--json']))) {
      assert.equal(r.code, 2, id)
      const e = jsonError(r)
      assert.deepEqual([e.code, e.exit], ['EP_USAGE', 2])
      assert.match(e.suggestion, /--help/)
    }
  })

  test('a typo in a flag names the closest flag', async () => {
    const e = textError(await runCli(['backend', 'list', '--stat', 'healthy']))
    assert.equal(e.suggestion, 'did you mean --state? The flags are in: edgeproxy backend list --help')
  })

  test('a value outside the choices, a missing argument, a flag twice, a flag without its value', async () => {
    const cases: Array<[string[], RegExp, RegExp]> = [
      [['backend', 'list', '--state', 'bogus'], /^--state "bogus" is not one of: healthy, expired, unhealthy, draining$/, /--state healthy/],
      [['backend', 'get'], /^missing ID \(Backend id\)$/, /^pass it: edgeproxy backend get ID /],
      [['route', 'explain'], /^missing IP/, /edgeproxy route explain IP/],
      [['backend', 'list', '--app', 'a', '--app', 'b'], /^--app was given more than once$/, /give --app once/],
      [['backend', 'list', '--app'], /^--app needs a value$/, /--app APP/],
      [['backend', 'get', 'a', 'b'], /^unexpected argument "b" for edgeproxy backend get$/, /edgeproxy backend get --help/],
    ]
    for (const [[args, message, suggestion], r] of await runAll(cases, ([args]) => runCli(args))) {
      assert.equal(r.code, 2, args.join(' '))
      const e = textError(r)
      assert.equal(e.code, 'EP_USAGE')
      assert.match(e.message, message)
      assert.match(e.suggestion, suggestion)
      const j = await runCli([...args, '--json'])
      assert.equal(j.code, 2)
      assert.match(jsonError(j).message, message)
    }
  })

  test('a mistyped command names the closest one as it is typed, never oclif\'s backend:lst', async () => {
    const cases: Array<[string[], string | undefined]> = [
      [['backend', 'lst'], 'backend list'],
      [['corosion', 'status'], 'corrosion status'],
      [['strat'], 'start'],
      [['backend', 'set-wieght', 'a', '3'], 'backend set-weight'],
      [['frobnicate'], undefined],
    ]
    for (const [[args, guess], r] of await runAll(cases, ([args]) => runCli(args))) {
      assert.equal(r.code, 2, r.stderr)
      const e = textError(r)
      assert.equal(e.code, 'EP_USAGE')
      assert.equal(e.message, `unknown command "${args.filter((a) => !/^(a|3)$/.test(a)).join(' ')}"`)
      assert.equal(e.suggestion, guess ? `did you mean edgeproxy ${guess}? (edgeproxy help lists every command)` : 'edgeproxy help lists every command')
      assert.doesNotMatch(r.stderr + r.stdout, /[a-z]:[a-z]/, 'no colon-separated command ids')
    }
    const j = await runCli(['backend', 'lst', '--json'])
    assert.equal(j.code, 2)
    assert.match(jsonError(j).suggestion, /did you mean edgeproxy backend list\?/)
  })
})

describe('URL flags', () => {
  test('a value that is not an http(s) URL is exit 3 "not an http(s) URL", never "cannot reach"', async () => {
    const cases: Array<[string[], Record<string, string>, string]> = [
      [['backend', 'list', '--api-url', 'notaurl'], {}, '--api-url "notaurl"'],
      [['backend', 'get', 'x', '--api-url', 'ftp://example.com'], {}, '--api-url "ftp://example.com"'],
      [['route', 'explain', '1.2.3.4'], {EDGEPROXY_API_URL: 'localhost:8081'}, 'EDGEPROXY_API_URL "localhost:8081"'],
      [['backend', 'list', '--corrosion-url', 'nope'], {}, '--corrosion-url "nope"'],
      [['corrosion', 'status', '--api-url', 'nope'], {}, '--api-url "nope"'],
      [['corrosion', 'init-schema', '--api-url', 'ftp://x'], {}, '--api-url "ftp://x"'],
    ]
    for (const [[args, , quoted], r] of await runAll(cases, ([args, env]) => runCli(args, {env}))) {
      assert.equal(r.code, 3, `${args.join(' ')}: ${r.stderr}`)
      const e = textError(r)
      assert.equal(e.code, 'EP_CONFIG_INVALID')
      assert.equal(e.message, `${quoted} is not an http(s) URL`)
      assert.doesNotMatch(e.suggestion, /:8080\b/, 'the example never names the proxy port for an API')
    }
    const j = await runCli(['backend', 'list', '--api-url', 'notaurl', '--json'])
    assert.equal(j.code, 3)
    assert.deepEqual(jsonError(j), {
      code: 'EP_CONFIG_INVALID',
      message: '--api-url "notaurl" is not an http(s) URL',
      suggestion: 'pass a URL such as --api-url http://127.0.0.1:8081',
      field: '--api-url',
      exit: 3,
    })
  })
})
