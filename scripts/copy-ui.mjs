#!/usr/bin/env node
// Copies the status page's static files (src/ui/page/) next to the compiled UI service
// (dist/src/ui/page/), so the page ships in the package and loads with the proxy offline.
// Plain files, no bundler: what is in src/ui/page is what the browser gets.
import {copyFileSync, mkdirSync, readdirSync, rmSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const from = join(root, 'src/ui/page')
const to = join(root, 'dist/src/ui/page')
rmSync(to, {recursive: true, force: true})
mkdirSync(to, {recursive: true})
for (const name of readdirSync(from)) {
  if (/\.(html|js|css|svg)$/.test(name)) copyFileSync(join(from, name), join(to, name))
}
