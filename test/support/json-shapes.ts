// The JSON shapes the README documents (section "Output for people and for scripts"), parsed from
// its text block, and the check of a real command's JSON against them: exactly the documented keys,
// nested shapes and lists, every key snake_case. Used by json-shapes.test.ts (which runs nearly
// every command) and by the tests of commands that need daemons to run (anycast, DNS).
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'

import {ROOT} from './proxy-process.js'

// ---- the README's notation: {key, key?, key: shape, list: [shape], {…}} and named shapes ----------

type Shape = {kind: 'scalar'} | {kind: 'anything'} | {kind: 'any'} | {kind: 'object'; entries: Map<string, {shape: Shape; isOptional: boolean}>} | {kind: 'array'; of: Shape} | {kind: 'name'; name: string}

function parseShape(text: string): Shape {
  let i = 0
  const skip = () => {
    while (text[i] === ' ') i++
  }
  const word = () => {
    skip()
    const m = /^[a-z_0-9]+/.exec(text.slice(i))
    assert.ok(m, `a name at ${i} of ${text}`)
    i += m[0].length
    return m[0]
  }
  const shape = (): Shape => {
    skip()
    if (text[i] === '[') {
      i++
      const of = shape()
      skip()
      assert.equal(text[i++], ']', text)
      return {kind: 'array', of}
    }
    if (text[i] === '*') {
      i++
      return {kind: 'anything'}
    }
    if (text[i] === '{') {
      i++
      skip()
      if (text[i] === '…') {
        i++
        assert.equal(text[i++], '}')
        return {kind: 'any'}
      }
      const entries = new Map<string, {shape: Shape; isOptional: boolean}>()
      while (true) {
        skip()
        if (text[i] === '}') {
          i++
          return {kind: 'object', entries}
        }
        const key = word()
        let isOptional = false
        if (text[i] === '?') {
          isOptional = true
          i++
        }
        skip()
        let inner: Shape = {kind: 'name', name: key}
        if (text[i] === ':') {
          i++
          inner = shape()
        }
        entries.set(key, {shape: inner, isOptional})
        skip()
        if (text[i] === ',') i++
      }
    }
    return {kind: 'name', name: word()}
  }
  const result = shape()
  skip()
  assert.equal(i, text.length, `the whole of ${text} parsed`)
  return result
}

function documentedShapes(): Map<string, Shape> {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8')
  const section = readme.slice(readme.indexOf('## Output for people and for scripts'))
  const block = /```text\n([\s\S]*?)```/.exec(section)![1]!
  const lines: Array<[string, string]> = []
  for (const line of block.split('\n')) {
    if (line.trim() === '') continue
    if (/^\s/.test(line)) lines[lines.length - 1]![1] += ' ' + line.trim()
    else {
      const m = /^(.+?)\s{2,}(\S.*)$/.exec(line)
      assert.ok(m, `a label and a shape: ${line}`)
      lines.push([m[1]!, m[2]!])
    }
  }
  return new Map(lines.map(([label, text]) => [label, parseShape(text)]))
}

export const SHAPES = documentedShapes()

export function check(value: unknown, shape: Shape, where: string, isTop = false): void {
  if (shape.kind === 'anything') return
  if (shape.kind === 'name') {
    const named = SHAPES.get(shape.name)
    return named === undefined ? check(value, {kind: 'scalar'}, where) : check(value, named, where, isTop)
  }
  const isObject = (v: unknown) => typeof v === 'object' && v !== null && !Array.isArray(v)
  if (shape.kind === 'scalar') {
    assert.ok(!isObject(value), `${where} is a scalar, got ${JSON.stringify(value)}`)
    if (Array.isArray(value)) for (const v of value) assert.ok(!isObject(v) && !Array.isArray(v), `${where} is a list of scalars`)
    return
  }
  if (shape.kind === 'array') {
    assert.ok(Array.isArray(value), `${where} is a list`)
    value.forEach((v, k) => check(v, shape.of, `${where}[${k}]`))
    return
  }
  if (value === null && !isTop) return
  assert.ok(isObject(value), `${where} is an object, got ${JSON.stringify(value)}`)
  if (shape.kind === 'any') return
  const object = value as Record<string, unknown>
  for (const key of Object.keys(object)) assert.ok(shape.entries.has(key), `${where}.${key} is documented`)
  for (const [key, entry] of shape.entries) {
    if (!(key in object)) {
      assert.ok(entry.isOptional, `${where}.${key} is present`)
      continue
    }
    check(object[key], entry.shape, `${where}.${key}`)
  }
}

export function snakeCaseKeys(value: unknown, where: string): void {
  if (Array.isArray(value)) value.forEach((v, k) => snakeCaseKeys(v, `${where}[${k}]`))
  else if (typeof value === 'object' && value !== null) {
    for (const [key, inner] of Object.entries(value)) {
      if (key === 'preview') continue // file names → contents
      assert.match(key, /^[a-z][a-z0-9_]*$/, `${where}.${key} is snake_case`)
      snakeCaseKeys(inner, `${where}.${key}`)
    }
  }
}

/** Checks `value` against the README line `label` (e.g. `edgeproxy anycast status`). */
export function assertDocumented(label: string, value: unknown): void {
  const shape = SHAPES.get(label)
  assert.ok(shape, `the README documents ${label}`)
  check(value, shape, label, true)
  snakeCaseKeys(value, label)
}
