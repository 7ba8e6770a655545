// corrosion.toml values are written by smol-toml: awkward strings round-trip through smol-toml's own
// parser (a TOML 1.0 reader), the text holds no character TOML forbids raw, and a string TOML cannot
// hold at all (a lone UTF-16 surrogate) is refused with EP_GENERATE_INVALID naming the key and value.
import assert from 'node:assert/strict'
import {describe, test} from 'node:test'

import {parse} from 'smol-toml'

import {EdgeproxyError} from '../../../src/errors.js'
import {renderCorrosionAgentToml, tomlValue, type CorrosionAgentModel} from '../../../src/generators/index.js'

const AWKWARD: Record<string, string> = {
  'double quote': 'a"b',
  'single quotes': "it's 'quoted'",
  backslash: 'C:\\dir\\',
  'backslash before a quote': '\\"',
  newline: 'line1\nline2',
  'carriage return': 'a\r\nb',
  tab: 'a\tb',
  'U+007F (DEL)': 'a\u007fb',
  'U+0000': 'a\u0000b',
  'U+001F and U+0008': '\u001f\u0008',
  'escape (U+001B)': '\u001b[31m',
  emoji: 'pop-😀',
  'non-BMP (U+1D11E)': '\u{1d11e}',
  'line separator U+2028': 'a\u2028b',
  BOM: '\ufeffx',
  'TOML syntax': '"""\n[section]\nkey = 1 # not a comment',
  empty: '',
}

/** Characters TOML does not allow raw in a basic string (TOML 1.0: control characters other than tab, and DEL). */
const FORBIDDEN_RAW = /[\u0000-\u0008\u000a-\u001f\u007f]/

describe('tomlValue (smol-toml writes the values of corrosion.toml)', () => {
  for (const [name, value] of Object.entries(AWKWARD)) {
    test(`${name} round-trips through smol-toml's parser`, () => {
      const written = tomlValue('db.path', value)
      assert.doesNotMatch(written, FORBIDDEN_RAW, `no raw control character or DEL in ${JSON.stringify(written)}`)
      assert.equal(parse(`k = ${written}\n`).k, value)
      assert.deepEqual(parse(`k = ${tomlValue('gossip.bootstrap', [value, 'x'])}\n`).k, [value, 'x'])
    })
  }

  test('U+007F is written as an escape (JSON.stringify left it raw)', () => {
    assert.equal(tomlValue('db.path', '\u007f'), '"\\u007f"')
  })

  test('numbers and booleans', () => {
    assert.equal(tomlValue('gossip.max_mtu', 1392), '1392')
    assert.equal(tomlValue('gossip.plaintext', false), 'false')
  })

  for (const [name, value, at, unit] of [
    ['a lone high surrogate', 'a\ud800b', 1, 'D800'],
    ['a lone low surrogate', 'x\udc00', 1, 'DC00'],
    ['a high surrogate at the end', '😀\ud83d', 2, 'D83D'],
    ['two high surrogates', '\ud83d\ud83d\ude00', 0, 'D83D'],
  ] as const) {
    test(`${name} is refused with the key and the value named`, () => {
      assert.throws(
        () => tomlValue('api.authz.bearer-token', value),
        (error: unknown) => {
          assert.ok(error instanceof EdgeproxyError)
          assert.equal(error.code, 'EP_GENERATE_INVALID')
          assert.equal(error.exitCode, 3)
          assert.ok(error.message.includes('api.authz.bearer-token'), error.message)
          assert.ok(error.message.includes(JSON.stringify(value)), error.message)
          assert.ok(error.message.includes(`U+${unit} at index ${at}`), error.message)
          return true
        },
      )
    })
  }
  test('a lone surrogate inside an array is refused too', () => {
    assert.throws(() => tomlValue('gossip.bootstrap', ['ok:4001', 'bad\udfff:4001']), /gossip\.bootstrap.*"bad\\udfff:4001"/)
  })
})

describe('renderCorrosionAgentToml with awkward values', () => {
  const agent: CorrosionAgentModel = {
    dbPath: '/var/lib/corrosion/"state"\\db\u007f😀.db',
    schemaDir: '/etc/corrosion/schema\t\u{1d11e}',
    gossipAddr: {host: '10.50.1.1', port: 4001},
    bootstrap: ['10.50.2.1:4001', 'seed.example:4001'],
    bootstrapNote: 'seeds',
    transport: {plaintext: false, tls: {certFile: '/tls/c\nert.pem', keyFile: '/tls/key\u0000.pem', caFile: "/tls/ca'.pem", clientCertFile: '/tls/client.pem', clientKeyFile: '/tls/client-key.pem'}},
    maxMtu: {value: 1392, explanation: ['fits WireGuard']},
    apiAddr: {host: '127.0.0.1', port: 8090},
    bearerToken: 'tok"en\\with\u007f',
    adminPath: '/run/corrosion/admin.sock',
  }

  test("the whole file parses with smol-toml to the model's values, comments kept", () => {
    const text = renderCorrosionAgentToml(agent, ['header'])
    assert.doesNotMatch(text, /[\u0000-\u0008\u000b-\u001f\u007f]/, 'no raw control character or DEL but the line ends')
    const doc = parse(text) as {db: {path: string; schema_paths: string[]}; gossip: {addr: string; bootstrap: string[]; plaintext: boolean; max_mtu: number; tls: Record<string, unknown>}; api: {addr: string; authz: Record<string, string>}; admin: {path: string}}
    assert.equal(doc.db.path, agent.dbPath)
    assert.deepEqual(doc.db.schema_paths, [agent.schemaDir])
    assert.equal(doc.gossip.addr, '10.50.1.1:4001')
    assert.deepEqual(doc.gossip.bootstrap, agent.bootstrap)
    assert.equal(doc.gossip.plaintext, false)
    assert.equal(doc.gossip.max_mtu, 1392)
    assert.deepEqual(JSON.parse(JSON.stringify(doc.gossip.tls)), {cert_file: '/tls/c\nert.pem', key_file: '/tls/key\u0000.pem', ca_file: "/tls/ca'.pem", insecure: false, client: {cert_file: '/tls/client.pem', key_file: '/tls/client-key.pem'}})
    assert.equal(doc.api.authz['bearer-token'], agent.bearerToken)
    assert.equal(doc.admin.path, agent.adminPath)
    assert.match(text, /^# header\n/)
    assert.match(text, /^# fits WireGuard\nmax_mtu = 1392$/m)
  })

  test('a lone surrogate in a path is refused naming the key', () => {
    assert.throws(() => renderCorrosionAgentToml({...agent, adminPath: '/run/\udc00.sock'}, []), (error: unknown) => {
      assert.ok(error instanceof EdgeproxyError && error.code === 'EP_GENERATE_INVALID')
      assert.match(error.message, /corrosion\.toml admin\.path: the value "\/run\/\\udc00\.sock"/)
      return true
    })
  })
})
