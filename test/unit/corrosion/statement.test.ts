import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {CorrosionStatementError} from '../../../src/corrosion/errors.js'
import {normalizeSql} from '../../../src/corrosion/sql-lexer.js'
import {
  namedStatement,
  normalizeStatement,
  serializeStatement,
  serializeStatements,
  sql,
  statement,
} from '../../../src/corrosion/statement.js'

describe('serializeStatement: the four forms', () => {
  it('sends a bare string, [sql, params], [sql, {named}] and {query, params}', () => {
    assert.equal(serializeStatement('SELECT 1'), '"SELECT 1"')
    assert.equal(serializeStatement(['SELECT ?, ?', [1, 'a']]), '["SELECT ?, ?",[1,"a"]]')
    assert.equal(serializeStatement(['SELECT :id', {':id': 1}]), '["SELECT :id",{":id":1}]')
    assert.equal(serializeStatement({query: 'SELECT @id', named_params: {'@id': 2}}), '{"query":"SELECT @id","named_params":{"@id":2}}')
    assert.equal(serializeStatement({query: 'SELECT $id', params: [3]}), '{"query":"SELECT $id","params":[3]}')
    assert.equal(serializeStatement({query: 'SELECT 1'}), '{"query":"SELECT 1"}')
  })

  it('builds bound statements, never SQL with values in it', () => {
    const id = "x'); DROP TABLE backends; --"
    assert.deepEqual(sql`SELECT * FROM backends WHERE id = ${id} AND port = ${80}`, ['SELECT * FROM backends WHERE id = ? AND port = ?', [id, 80]])
    assert.equal(statement('SELECT 1'), 'SELECT 1')
    assert.deepEqual(namedStatement('SELECT :a', {':a': 1}), ['SELECT :a', {':a': 1}])
  })

  it('binds booleans, blobs and big integers the way serde reads them', () => {
    assert.equal(serializeStatement(['SELECT ?, ?, ?, ?', [true, Uint8Array.of(0, 255), 9007199254740993n, null]]), '["SELECT ?, ?, ?, ?",[true,[0,255],9007199254740993,null]]')
    assert.equal(serializeStatement(['SELECT ?', [[1, 2, 3]]]), '["SELECT ?",[[1,2,3]]]')
    assert.equal(serializeStatement(['SELECT ?', [-(2n ** 63n)]]), '["SELECT ?",[-9223372036854775808]]')
  })

  it('refuses what the agent would refuse or mis-bind, quoting the value', () => {
    const cases: [unknown, RegExp][] = [
      [['SELECT :id', {id: 1}], /named parameter key "id" has no sigil/],
      [['SELECT :id', {':other': 1}], /":other" does not appear/],
      [['SELECT ?', [{a: 1}]], /is an object/],
      [['SELECT ?', [[1, 300]]], /not a list of bytes/],
      [['SELECT ?', [2 ** 53 + 2]], /beyond ±2\^53/],
      [['SELECT ?', [2n ** 63n]], /outside the SQLite INTEGER range/],
      [['SELECT ?', [Number.NaN]], /not a finite number/],
      ['SELECT 1; SELECT 2', /holds 2 statements/],
      ['   ', /is empty/],
      [['SELECT ?, ?', [1]], /2 \? placeholder\(s\) but 1 parameter/],
      ['SELECT ?', /placeholders but no parameters/],
      [{sql: 'SELECT 1'}, /no "query" key \("sql" is not a Corrosion key\)/],
      [{query: 'SELECT ?', params: [1], named_params: {':a': 1}}, /both params and named_params/],
    ]
    for (const [s, re] of cases) {
      assert.throws(() => serializeStatement(s as never), (e: unknown) => e instanceof CorrosionStatementError && re.test(e.message) && e.exitCode === 3, String(JSON.stringify(s, (_, v) => (typeof v === 'bigint' ? `${v}n` : v))))
    }
  })

  it('accepts one statement with a trailing semicolon or comment, and ? inside strings is not a placeholder', () => {
    assert.equal(serializeStatement('SELECT 1; -- done'), '"SELECT 1; -- done"')
    assert.equal(serializeStatement("SELECT '?;' AS q;"), '"SELECT \'?;\' AS q;"')
    assert.equal(serializeStatements(['SELECT 1', ['SELECT ?', [1]]]), '["SELECT 1",["SELECT ?",[1]]]')
  })
})

describe('normalizeSql', () => {
  it('collapses whitespace and comments outside literals and drops the trailing semicolon', () => {
    assert.equal(normalizeSql('  SELECT *\n  FROM   backends -- all\n ;  '), 'SELECT * FROM backends')
    assert.equal(normalizeSql("SELECT 'a  b'  FROM t"), "SELECT 'a  b' FROM t")
    assert.deepEqual(normalizeStatement(['SELECT\t?', [1]]), ['SELECT ?', [1]])
  })
})
