import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {CorrosionSchemaError} from '../../../src/corrosion/errors.js'
import {assertSchemaAccepted, checkSchema, parseSchemaSql} from '../../../src/corrosion/schema-rules.js'
import {BACKEND_COLUMNS, backendsTableDdl} from '../../../src/store/schema.js'

function first(sql: string, current: string[] = []): string | undefined {
  return checkSchema(sql, current).violations[0]
}

describe('schema rules (corrosion-api.md §8.2), with the agent\'s texts', () => {
  it('accepts the backends table as edgeproxy writes it, and the minimal valid table', () => {
    assert.deepEqual(checkSchema(backendsTableDdl()).violations, [])
    assert.deepEqual(checkSchema("CREATE TABLE t (id TEXT NOT NULL PRIMARY KEY, name TEXT NOT NULL DEFAULT '', n INTEGER);").violations, [])
    const parsed = parseSchemaSql(backendsTableDdl()).schema!
    assert.deepEqual(parsed.tables.get('backends')!.columns.map((c) => c.name), BACKEND_COLUMNS.map((c) => c.name))
  })

  it('allows only CREATE TABLE, CREATE INDEX and DROP INDEX IF EXISTS', () => {
    // `{cmd}` is sqlite3-parser's Display for Cmd: its token spacing, and a final `;`
    assert.equal(first("INSERT INTO t VALUES (1)"), 'unsupported command: INSERT INTO t VALUES (1);')
    assert.equal(first('CREATE VIEW v AS SELECT 1'), 'unsupported command: CREATE VIEW v AS SELECT 1;')
    assert.equal(first('CREATE TEMP TABLE t (id TEXT NOT NULL PRIMARY KEY)'), 'temporary tables are not supported: CREATE TEMP TABLE t (id TEXT NOT NULL PRIMARY KEY);')
    assert.equal(first('CREATE TABLE t AS SELECT 1'), 'temporary tables are not supported: CREATE TABLE t AS SELECT 1;')
    assert.equal(first('INSERT  INTO t(a ,b)\n  VALUES ( 1,2 ) -- note\n;'), 'unsupported command: INSERT INTO t (a, b) VALUES (1, 2);')
    assert.equal(first('CREATE TEMPORARY TABLE t(id TEXT)'), 'temporary tables are not supported: CREATE TEMP TABLE t (id TEXT);')
    assert.equal(first('CREATE INDEX i ON t (a)'), "missing table for index (table: 't', index: 'i')")
    assert.equal(first('DROP INDEX i'), "DROP INDEX without IF EXISTS is not supported; use 'DROP INDEX IF EXISTS i'")
    assert.equal(
      first('CREATE TABLE t (id TEXT NOT NULL PRIMARY KEY, a TEXT); CREATE INDEX i ON t (a); DROP INDEX IF EXISTS i'),
      "DROP INDEX conflicts with a CREATE INDEX in the same schema for 'i' (would cause create/destroy loop)",
    )
    assert.deepEqual(checkSchema('CREATE TABLE t (id TEXT NOT NULL PRIMARY KEY, a TEXT); CREATE INDEX IF NOT EXISTS i ON t (a); DROP INDEX IF EXISTS old').violations, [])
  })

  it('refuses NOT NULL without DEFAULT, REFERENCES, UNIQUE indexes and PK expressions', () => {
    assert.equal(
      first('CREATE TABLE t (id TEXT NOT NULL PRIMARY KEY, name TEXT NOT NULL)'),
      "not nullable column 'name' on table 't' needs a default value for forward schema compatibility",
    )
    assert.equal(first('CREATE TABLE t (id TEXT NOT NULL PRIMARY KEY, o TEXT REFERENCES other(id))'), "foreign keys are not supported (table: 't', column: 'o')")
    assert.equal(first('CREATE TABLE t (id TEXT NOT NULL PRIMARY KEY, a TEXT); CREATE UNIQUE INDEX u ON t (a)'), 'unique indexes are not supported: u')
    assert.equal(first('CREATE TABLE t (a TEXT NOT NULL, PRIMARY KEY (lower(a)))'), 'expr used as primary')
  })

  it('treats a quoted PK column name as not primary, as Corrosion\'s prepare_table does', () => {
    // Column::primary_key = pk.contains(&def.col_name.0): unquoted PK names against the name as written
    assert.equal(
      first('CREATE TABLE t ("id" TEXT NOT NULL PRIMARY KEY, v TEXT)'),
      "not nullable column 'id' on table 't' needs a default value for forward schema compatibility",
    )
    assert.equal(
      first('CREATE TABLE t ([id] TEXT NOT NULL, v TEXT, PRIMARY KEY (id))'),
      "not nullable column 'id' on table 't' needs a default value for forward schema compatibility",
    )
    assert.deepEqual(checkSchema('CREATE TABLE t ("id" TEXT NOT NULL DEFAULT \'\' PRIMARY KEY, v TEXT)').violations, [])
    assert.deepEqual(checkSchema('CREATE TABLE t (id TEXT NOT NULL, v TEXT, PRIMARY KEY ("id"))').violations, [])
  })

  it('refuses what cr-sqlite refuses for a new CRR table', () => {
    assert.equal(first('CREATE TABLE t (id TEXT PRIMARY KEY)'), 'Table t has no primary key or primary key is nullable. CRRs must have a non nullable primary key')
    assert.equal(first('CREATE TABLE t (id INTEGER PRIMARY KEY)'), 'Table t has no primary key or primary key is nullable. CRRs must have a non nullable primary key')
    assert.equal(first('CREATE TABLE t (a TEXT)'), 'Table t has no primary key or primary key is nullable. CRRs must have a non nullable primary key')
    assert.equal(
      first('CREATE TABLE t (a TEXT NOT NULL, b TEXT, PRIMARY KEY (a, b))'),
      'Table t has composite primary key part of which is nullable. CRRs must have a non nullable primary key',
    )
    assert.equal(first('CREATE TABLE t (id TEXT NOT NULL PRIMARY KEY, e TEXT UNIQUE)'), 'Table t has unique indices besidesthe primary key. This is not allowed for CRRs')
    assert.match(first('CREATE TABLE t (id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT)')!, /^t has auto-increment primary keys\. This is likely a mistake/)
    assert.match(first('CREATE TABLE t (id TEXT NOT NULL PRIMARY KEY, o TEXT, FOREIGN KEY (o) REFERENCES x(id))')!, /^Table t has checked foreign key constraints\./)
  })

  it('lists every violation in the order the agent checks, the first being its answer', () => {
    const v = checkSchema('CREATE TABLE t (id TEXT PRIMARY KEY, a TEXT NOT NULL, b TEXT REFERENCES x(id))').violations
    assert.deepEqual(v, [
      "not nullable column 'a' on table 't' needs a default value for forward schema compatibility",
      "foreign keys are not supported (table: 't', column: 'b')",
      'Table t has no primary key or primary key is nullable. CRRs must have a non nullable primary key',
    ])
    assert.throws(
      () => assertSchemaAccepted('CREATE TABLE t (id TEXT PRIMARY KEY)'),
      (e: unknown) => e instanceof CorrosionSchemaError && e.code === 'EP_CORROSION_SCHEMA_REFUSED' && e.exitCode === 3 && /no primary key/.test(e.message),
    )
  })
})

describe('diff against the table the agent has: only ever add columns', () => {
  const current = "CREATE TABLE backends (id TEXT NOT NULL PRIMARY KEY, app TEXT NOT NULL DEFAULT '')"

  it('finds appended columns and accepts the same table written with other spacing and keyword case', () => {
    const check = checkSchema("CREATE TABLE backends (id TEXT NOT NULL PRIMARY KEY, app text not null default '', port INTEGER NOT NULL DEFAULT 0, note TEXT)", [current])
    assert.equal(check.violations.length, 1, 'a changed type-name case is a changed column, as in the agent\'s AST compare')
    const same = checkSchema("CREATE TABLE backends (\n  id TEXT NOT NULL PRIMARY KEY,\n  app TEXT not null DEFAULT '',\n  port INTEGER NOT NULL DEFAULT 0,\n  note TEXT\n)", [current])
    assert.deepEqual(same.violations, [])
    assert.deepEqual(same.addedColumns.backends, ['port', 'note'])
    assert.deepEqual(same.newTables, [])
  })

  it('refuses removing or editing a column, and adding a key column', () => {
    assert.equal(first('CREATE TABLE backends (id TEXT NOT NULL PRIMARY KEY)', [current]), "won't remove column without the destructive flag set (table: 'backends', column: 'app')")
    assert.equal(
      first("CREATE TABLE backends (id TEXT NOT NULL PRIMARY KEY, app TEXT NOT NULL DEFAULT 'x')", [current]),
      "won't change column without the destructive flag set (table: 'backends', column: 'app')",
    )
    assert.equal(
      first("CREATE TABLE backends (id TEXT NOT NULL, app TEXT NOT NULL DEFAULT '', k TEXT NOT NULL DEFAULT '', PRIMARY KEY (id, k))", [current]),
      "won't change column without the destructive flag set (table: 'backends', column: 'id')",
    )
    assert.equal(
      first("CREATE TABLE backends (id TEXT NOT NULL PRIMARY KEY, app TEXT NOT NULL DEFAULT '', added TEXT NOT NULL)", [current]),
      "not nullable column 'added' on table 'backends' needs a default value for forward schema compatibility",
    )
  })

  it('accepts the full backends table over an older, shorter backends table', () => {
    const older = `CREATE TABLE backends (${BACKEND_COLUMNS.slice(0, 5).map((c) => `${c.name} ${c.definition}`).join(', ')})`
    const check = checkSchema(backendsTableDdl(), [older])
    assert.deepEqual(check.violations, [])
    assert.deepEqual(check.addedColumns.backends, BACKEND_COLUMNS.slice(5).map((c) => c.name))
  })
})
