#!/usr/bin/env node
// A helper the 6PN lab runs inside each network namespace (`ip netns exec NS node ns-agent.mjs`):
// the lab script lives in the root namespace and cannot open sockets in another one, so it sends
// this agent JSON lines on stdin and reads one JSON answer line per request on stdout.
//   {"id":1,"op":"listen","host":"fd..::7","port":9000,"greeting":"sa-lab-1"}  a TCP server that
//       writes "<greeting> <client address>\n" to each connection and closes it (a backend)
//   {"id":2,"op":"connect","host":"…","port":8080,"timeoutMs":3000}           the first line read back
//   {"id":3,"op":"http","url":"http://…","method":"GET","headers":{},"body":…}  status and body text
// Plain JavaScript, so it starts in tens of milliseconds under `node` without a loader.
import net from 'node:net'
import readline from 'node:readline'

const servers = []

function reply(message) {
  process.stdout.write(JSON.stringify(message) + '\n')
}

function listen(request) {
  return new Promise((resolve) => {
    const server = net.createServer((socket) => {
      socket.on('error', () => {})
      socket.end(`${request.greeting} ${socket.remoteAddress}\n`)
    })
    server.once('error', (error) => resolve({ok: false, code: error.code, message: error.message}))
    server.listen({host: request.host, port: request.port}, () => {
      servers.push(server)
      resolve({ok: true, port: server.address().port})
    })
  })
}

function connect(request) {
  return new Promise((resolve) => {
    const started = performance.now()
    const ms = () => Math.round(performance.now() - started)
    let text = ''
    let isDone = false
    const socket = net.connect({host: request.host, port: request.port, ...(request.localAddress ? {localAddress: request.localAddress} : {})})
    const finish = (result) => {
      if (isDone) return
      isDone = true
      clearTimeout(timer)
      socket.destroy()
      resolve({...result, ms: ms()})
    }
    const timer = setTimeout(() => finish({ok: false, code: 'ETIMEDOUT', text}), request.timeoutMs ?? 3000)
    socket.on('data', (chunk) => {
      text += chunk.toString('utf8')
      const nl = text.indexOf('\n')
      if (nl >= 0) finish({ok: true, text: text.slice(0, nl)})
    })
    socket.on('end', () => finish(text === '' ? {ok: false, code: 'EMPTY', text} : {ok: true, text}))
    socket.on('error', (error) => finish({ok: false, code: error.code ?? 'ERROR', message: error.message, text}))
  })
}

async function http(request) {
  try {
    const res = await fetch(request.url, {
      method: request.method ?? 'GET',
      headers: request.headers ?? {},
      ...(request.body === undefined ? {} : {body: typeof request.body === 'string' ? request.body : JSON.stringify(request.body)}),
      signal: AbortSignal.timeout(request.timeoutMs ?? 5000),
    })
    return {ok: true, status: res.status, body: await res.text()}
  } catch (error) {
    return {ok: false, code: error.cause?.code ?? error.name, message: error.message}
  }
}

const ops = {listen, connect, http}

readline.createInterface({input: process.stdin}).on('line', (line) => {
  let request
  try {
    request = JSON.parse(line)
  } catch {
    return reply({id: null, ok: false, code: 'BAD_JSON'})
  }
  const op = ops[request.op]
  if (!op) return reply({id: request.id, ok: false, code: 'UNKNOWN_OP'})
  op(request).then((result) => reply({id: request.id, ...result}))
}).on('close', () => {
  for (const server of servers) server.close()
  process.exit(0)
})
reply({id: 0, ok: true, ready: true})
