/** A local service action, run and shown: the engine's report as the stock script's lines, or as JSON. */
import { terminalJson } from '../sanitize.js';
import { runService, type ServiceRequest } from '../service/engine.js';
import { reportToJson } from './service-json.js';
import { renderServiceText } from './service-text.js';
import { writeStderr, writeStdout } from './std-write.js';

/** Runs REQUEST, prints its report, and returns the run's exit code. */
export async function runServiceCommand(request: ServiceRequest, json: boolean): Promise<number> {
  // The stock script's lines show no port: only the JSON asks the engine for them.
  const report = await runService({ ...request, ports: json });
  if (json) {
    writeStdout(terminalJson(reportToJson(report)) + '\n');
  } else {
    const { stdout, stderr } = renderServiceText(report);
    writeStdout(stdout);
    writeStderr(stderr);
  }
  return report.exitCode;
}
