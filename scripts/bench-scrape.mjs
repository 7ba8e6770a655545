#!/usr/bin/env node
// The benchmark's Prometheus: GET a /metrics URL every INTERVAL_MS, as a scraper would, and count
// failures (printed on exit). Usage: node scripts/bench-scrape.mjs URL INTERVAL_MS
import http from 'node:http'

const [url, intervalText] = process.argv.slice(2)
const intervalMs = Number(intervalText ?? 1000)
let scrapes = 0
let failures = 0
let bytes = 0
setInterval(() => {
  http
    .get(url, (res) => {
      res.on('data', (c) => (bytes += c.length))
      res.on('end', () => (res.statusCode === 200 ? scrapes++ : failures++))
    })
    .on('error', () => failures++)
}, intervalMs)
process.on('SIGTERM', () => {
  process.stderr.write(`scrapes=${scrapes} failures=${failures} bytes=${bytes}\n`)
  process.exit(0)
})
