/**
 * appStart runs before the host serves and appTerminate when it stops; both see the same hookData, as in the worker.
 */
import { join } from 'node:path';

import { startLocalHost } from '../../../local/host/localHost';
import { probe } from './fixtures/host-app/probe';

it('runs appStart before serving and appTerminate on close, and then stops serving', async () => {
    const host = await startLocalHost({
        entry: join(__dirname, 'fixtures', 'host-app', 'index.ts'),
        port: 0,
        env: {
            'AzureWebJobs.inbox.Disabled': 'true',
            'AzureWebJobs.poison.Disabled': 'true',
            'AzureWebJobs.busy.Disabled': 'true',
        },
        logSink: () => undefined,
    });
    expect(probe.appStartCount).toBe(1);
    expect((await fetch(`${host.url}/api/numbers/1`)).status).toBe(200);
    expect(probe.appTerminateCount).toBe(0);

    await host.close();
    expect(probe.appTerminateCount).toBe(1);
    expect(probe.appTerminateSawHookData).toBe('appStart');
    await expect(fetch(`${host.url}/`)).rejects.toThrow();
});
