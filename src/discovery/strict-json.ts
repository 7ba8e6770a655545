// JSON.parse keeps the last of two equal keys without a word, so `{"port": 1, "port": 2}` would mean
// whatever the last writer of a proxy in between decided. This finds the first key that appears
// twice in one object (after unescaping: "id" and "\u0069d" are the same key), so a request body is
// refused instead of guessed. Pure; runs only on text JSON.parse has already accepted.

/** The first duplicated key of any object in `text` (valid JSON), or undefined. */
export function findDuplicateKey(text: string): string | undefined {
  // One frame per open object or array; objects remember their keys.
  const stack: (Set<string> | null)[] = []
  let i = 0
  const n = text.length
  while (i < n) {
    const c = text.charCodeAt(i)
    if (c === 0x7b /* { */) {
      stack.push(new Set())
      i++
    } else if (c === 0x5b /* [ */) {
      stack.push(null)
      i++
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop()
      i++
    } else if (c === 0x22 /* " */) {
      const start = i
      i++
      while (i < n) {
        const d = text.charCodeAt(i)
        if (d === 0x5c /* \ */) i += 2
        else if (d === 0x22) break
        else i++
      }
      i++
      const keys = stack.at(-1)
      if (keys === null || keys === undefined) continue
      // A string directly inside an object is a key when a colon follows it.
      let j = i
      while (j < n && isSpace(text.charCodeAt(j))) j++
      if (text.charCodeAt(j) !== 0x3a /* : */) continue
      const key = JSON.parse(text.slice(start, i)) as string
      if (keys.has(key)) return key
      keys.add(key)
    } else {
      i++
    }
  }
  return undefined
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d
}
