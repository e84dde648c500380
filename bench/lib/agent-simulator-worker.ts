/**
 * One process of a multi-process simulated fleet (see startSimulatedFleetProcesses in
 * ./agent-simulator.ts): started with an IPC channel, it receives its share of hosts, runs them with
 * startSimulatedFleet and answers the parent's requests.
 */
import { startSimulatedFleet, type FleetOptions, type ReportFormat, type SimulatedFleet } from './agent-simulator.js';

type Request =
  | { id: number; op: 'start'; options: FleetOptions }
  | { id: number; op: 'format'; format: ReportFormat }
  | { id: number; op: 'stats' | 'drop' | 'stop' };

let fleet: SimulatedFleet | null = null;
process.on('message', (raw) => {
  const req = raw as Request;
  void (async () => {
    try {
      let result: unknown = null;
      if (req.op === 'start') fleet = await startSimulatedFleet(req.options);
      else if (req.op === 'stats') result = fleet?.stats() ?? null;
      else if (req.op === 'drop') await fleet?.dropAll();
      else if (req.op === 'format') fleet?.setReportFormat(req.format);
      else if (req.op === 'stop') {
        await fleet?.stop();
        process.send!({ id: req.id, ok: true, result: null }, () => process.exit(0));
        return;
      }
      process.send!({ id: req.id, ok: true, result });
    } catch (error) {
      process.send!({ id: req.id, ok: false, error: String((error as Error).stack ?? error) });
    }
  })();
});
process.on('disconnect', () => process.exit(0));
