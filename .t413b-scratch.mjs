import {request} from 'undici'
const base = 'http://127.0.0.1:18181'
const counts = {}
for (let i = 0; i < 40; i++) for (const mode of ['cl', 'chunked', 'cl-hb', 'chunked-hb']) {
  const path = mode.endsWith('hb') ? '/api/v1/heartbeat/a' : '/api/v1/register'
  let key
  try {
    const body = mode.startsWith('cl') ? Buffer.alloc(200*1024, 'a') : (async function*(){ for (let i=0;i<20;i++) yield Buffer.alloc(10*1024,'a') })()
    const r = await request(base+path, {method:'POST', headers:{'content-type':'application/json'}, body})
    await r.body.text(); key = mode + ':' + r.statusCode
  } catch (e) { key = mode + ':' + e.code }
  counts[key] = (counts[key] ?? 0) + 1
}
console.log(counts)
