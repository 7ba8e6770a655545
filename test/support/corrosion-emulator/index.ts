// The Corrosion agent emulator used by tests (a test peer that follows corrosion-api.md, not product
// code): one agent with startEmulator(), several replicating agents with createCluster().
import {EmulatorAgent, type EmulatorOptions} from './agent.js'

export {EmulatorAgent, type Changeset, type EmulatorOptions, type RecordedRequest} from './agent.js'
export {createCluster, EmulatorCluster, type ClusterOptions} from './cluster.js'

/** Starts one agent (port 0 unless `api` says otherwise) and resolves once it listens. */
export async function startEmulator(options: EmulatorOptions = {}): Promise<EmulatorAgent> {
  return new EmulatorAgent(options).start()
}
