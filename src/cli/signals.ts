// Process signals for a long-running engine: SIGTERM/SIGINT drain gracefully (a second one cuts at
// once), SIGHUP reloads. Resolves when the engine has shut down.
import type {Engine, ShutdownResult} from '../engine.js'

export function runUntilSignal(engine: Engine): Promise<ShutdownResult> {
  return new Promise((resolve) => {
    let stopping = false
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        engine.cutNow()
        return
      }
      stopping = true
      void signal
      engine.shutdown().then((result) => {
        process.removeListener('SIGTERM', stop)
        process.removeListener('SIGINT', stop)
        process.removeListener('SIGHUP', reload)
        resolve(result)
      })
    }
    const reload = () => engine.reload()
    process.on('SIGTERM', stop)
    process.on('SIGINT', stop)
    process.on('SIGHUP', reload)
  })
}
