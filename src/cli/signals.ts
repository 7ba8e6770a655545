// Process signals for a long-running engine: SIGTERM/SIGINT drain gracefully (a second one cuts at
// once), SIGHUP reloads. Handlers are installed before the engine starts, so a signal that arrives
// during start-up (right after the "started" line, say) still ends in a graceful shutdown.
import type {Engine, ShutdownResult} from '../engine.js'

export class SignalWatcher {
  private engine?: Engine
  private stopRequests = 0
  private done?: (result: ShutdownResult) => void
  private readonly onStop = () => {
    this.stopRequests++
    if (this.engine) this.stop(this.engine)
  }
  private readonly onReload = () => this.engine?.reload()

  constructor() {
    process.on('SIGTERM', this.onStop)
    process.on('SIGINT', this.onStop)
    process.on('SIGHUP', this.onReload)
  }

  /** Runs until a stop signal has drained the engine. */
  run(engine: Engine): Promise<ShutdownResult> {
    this.engine = engine
    const finished = new Promise<ShutdownResult>((resolve) => (this.done = resolve))
    if (this.stopRequests > 0) this.stop(engine)
    return finished
  }

  private stop(engine: Engine): void {
    if (this.stopRequests > 1) engine.cutNow()
    void engine.shutdown().then((result) => {
      this.dispose()
      this.done?.(result)
    })
  }

  /** Removes the handlers (after shutdown, or when start-up failed). */
  dispose(): void {
    process.removeListener('SIGTERM', this.onStop)
    process.removeListener('SIGINT', this.onStop)
    process.removeListener('SIGHUP', this.onReload)
  }
}
