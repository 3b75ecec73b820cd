/**
 * Runs the Partner API simulator standalone:
 *   npm run simulator   (builds first; `-- --help` prints the usage)
 * Settings: PARTNER_API_SIMULATOR_PORT (7090), SIM_ACCEPT_MISSING_TOKEN (true), SIM_PAGE_SIZE, SIM_FAULT_METHODS
 * (POST), and one SIM_* variable per fault or behaviour below (README.md lists them).
 */
import { exitOnHelp } from '../../scripts/usage';
import { faultsFromEnv, numberSetting } from './envSettings';
import { startPartnerApiSimulator } from './index';

const USAGE = [
    'Usage: npm run simulator',
    '  Runs the Partner API simulator alone. Settings: PARTNER_API_SIMULATOR_PORT (7090), SIM_ACCEPT_MISSING_TOKEN,',
    '  SIM_PAGE_SIZE, SIM_FAULT_METHODS, and one SIM_* variable per fault or behaviour',
    '  (local/partner-api-simulator/README.md lists them).',
].join('\n');

async function main(): Promise<void> {
    const simulator = await startPartnerApiSimulator({
        port: numberSetting('PARTNER_API_SIMULATOR_PORT') ?? 7090,
        // The app's PARTNER_API_AUTH=none sends no Authorization header; standalone runs serve that mode by default.
        acceptMissingToken: (process.env.SIM_ACCEPT_MISSING_TOKEN ?? 'true').toLowerCase() !== 'false',
        faults: faultsFromEnv(),
        pageSize: numberSetting('SIM_PAGE_SIZE'),
    });
    console.log(
        `Partner API simulator on ${simulator.url} (admin: ${simulator.url}/_admin/referrals, /requests, /faults)`,
    );
    console.log(`Faults: ${JSON.stringify(simulator.admin.faults())}`);
    const stop = () => {
        simulator.close().then(
            () => process.exit(0),
            () => process.exit(1),
        );
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
}

exitOnHelp(USAGE);
main().catch((error: unknown) => {
    console.error(`Partner API simulator failed to start: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
});
