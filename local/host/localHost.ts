/**
 * The local Functions host: loads the app's registrations and hooks, runs appStart, serves the HTTP triggers, drives
 * the Service Bus and timer triggers, and on close stops them all and runs appTerminate (whose logs, as in Azure, go
 * nowhere). Registering a function after start-up throws, as in the worker.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

import { loadApp } from './appLoader';
import { DEFAULT_LOCAL_FUNCTION_KEY, localFunctionKey } from './auth';
import { closeRegistrations, registry } from './functionsCore';
import { newAppHookState, runAppStartHooks, runAppTerminateHooks } from './hooks';
import { type HostJson, readHostJson, toHostSettings } from './hostJson';
import { HostLogger, type LogSink } from './hostLog';
import { HttpTriggerHost } from './httpTriggers';
import { FunctionInvoker, triggerBinding } from './invoker';
import { ServiceBusTriggerHost } from './serviceBusTriggers';
import { type TimerClock, TimerTriggerHost } from './timerTriggers';

/** The project root: this file runs from `local/host/` (Jest) or `dist/local/host/` (built). */
export const PROJECT_ROOT = findProjectRoot(__dirname);

function findProjectRoot(start: string): string {
    for (let dir = start; ; dir = dirname(dir)) {
        if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'host.json'))) return dir;
        if (dirname(dir) === dir) return process.cwd();
    }
}

export const DEFAULT_HOST_PORT = 7071;

export interface LocalHostOptions {
    /** The app's entry module. Default: `LOCAL_APP_ENTRY`, else `dist/index.js` in the project. */
    entry?: string;
    /** Default: `PORT`, else 7071. `0` picks a free port. */
    port?: number;
    /** Default `127.0.0.1`: the development host is never exposed beyond loopback unless asked. */
    hostname?: string;
    /** Settings put into `process.env` before the app loads (the app reads its configuration from there). */
    env?: Record<string, string>;
    /** host.json contents, or a path to it. Default: the project's host.json. */
    hostJson?: HostJson | string;
    /** Default: `LOCAL_FUNCTION_KEY`, else {@link DEFAULT_LOCAL_FUNCTION_KEY}. */
    functionKey?: string;
    /** Where host and app log lines go. Default: stdout/stderr. */
    logSink?: LogSink;
    /** The timer triggers' clock. Default: the system clock; tests pass a fake one. */
    timerClock?: TimerClock;
}

export interface LocalFunctionSummary {
    name: string;
    trigger: string;
    /** `GET,POST http://127.0.0.1:7071/api/referrals/{id}`, `queue referrals` or `schedule 0 * * * * * (UTC), ...`. */
    description: string;
}

export interface LocalHost {
    url: string;
    port: number;
    functionKey: string;
    functions: LocalFunctionSummary[];
    close(): Promise<void>;
}

function portFrom(value: string | undefined): number | undefined {
    if (value === undefined || value.trim() === '') return undefined;
    const port = Number(value);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`Not a port number: "${value}"`);
    return port;
}

/** The host's own switch: app setting `AzureWebJobs.<name>.Disabled` (or `AzureWebJobs__<name>__Disabled`). */
function isDisabled(functionName: string): boolean {
    const value =
        process.env[`AzureWebJobs.${functionName}.Disabled`] ?? process.env[`AzureWebJobs__${functionName}__Disabled`];
    return value?.trim().toLowerCase() === 'true' || value?.trim() === '1';
}

export async function startLocalHost(options: LocalHostOptions = {}): Promise<LocalHost> {
    for (const [name, value] of Object.entries(options.env ?? {})) process.env[name] = value;
    const hostJson =
        typeof options.hostJson === 'object'
            ? options.hostJson
            : readHostJson(options.hostJson ?? resolve(PROJECT_ROOT, 'host.json'));
    const settings = toHostSettings(hostJson);
    const logger = new HostLogger(options.logSink, settings.logLevel);
    const functionKey = options.functionKey ?? localFunctionKey();

    const entry = loadApp(options.entry ?? process.env.LOCAL_APP_ENTRY ?? resolve(PROJECT_ROOT, 'dist', 'index.js'));
    const functions = [...registry.functions.values()].filter((registered) => {
        const disabled = isDisabled(registered.metadata.name);
        if (disabled) logger.host('information', `Function '${registered.metadata.name}' is disabled.`);
        return !disabled;
    });
    const hookState = newAppHookState();
    const invoker = new FunctionInvoker({ logger, hookState });

    const http = new HttpTriggerHost(functions, { routePrefix: settings.routePrefix, functionKey, invoker, logger });
    // Reads the trigger definitions now, so a misconfigured trigger fails the start, not the first message.
    const serviceBus = new ServiceBusTriggerHost(functions, { ...settings.serviceBus, invoker, logger });
    const timers = new TimerTriggerHost(functions, { invoker, logger, clock: options.timerClock });
    for (const registered of functions) {
        const type = triggerBinding(registered.metadata).type.toLowerCase();
        if (!['httptrigger', 'servicebustrigger', 'timertrigger'].includes(type)) {
            logger.host(
                'warning',
                `Function '${registered.metadata.name}' has a ${type} the local host does not drive.`,
            );
        }
        const outputs = Object.entries(registered.metadata.bindings).filter(
            ([name, binding]) => binding.direction === 'out' && !(name === '$return' && binding.type === 'http'),
        );
        if (outputs.length > 0) {
            logger.host(
                'warning',
                `Function '${registered.metadata.name}': output bindings are ignored by the local host.`,
            );
        }
    }

    // appStart runs before anything is served, as in the worker (it runs right after loading the entry point).
    await runAppStartHooks(hookState, dirname(entry));
    closeRegistrations();
    const hostname = options.hostname ?? '127.0.0.1';
    let port: number;
    try {
        port = await http.listen(options.port ?? portFrom(process.env.PORT) ?? DEFAULT_HOST_PORT, hostname);
        serviceBus.start();
        timers.start();
    } catch (error) {
        await http.close().catch(() => undefined);
        await serviceBus.close(0);
        logger.closeAppLogs();
        await runAppTerminateHooks(hookState);
        throw error;
    }
    const url = `http://${hostname.includes(':') ? `[${hostname}]` : hostname}:${port}`;
    const summaries: LocalFunctionSummary[] = [
        ...http.functionRoutes.map((route) => ({
            name: route.functionName,
            trigger: 'httpTrigger',
            description: `${route.methods.join(',') || 'ANY'} ${url}/${settings.routePrefix ? `${settings.routePrefix}/` : ''}${route.route.template} (${route.authLevel})`,
        })),
        ...serviceBus.definitions.map((definition) => ({
            name: definition.functionName,
            trigger: 'serviceBusTrigger',
            description: definition.subscriptionName
                ? `topic ${definition.entityName}/${definition.subscriptionName} (${definition.connection})`
                : `queue ${definition.entityName} (${definition.connection})`,
        })),
        ...timers.definitions.map((definition) => ({
            name: definition.functionName,
            trigger: 'timerTrigger',
            description:
                `schedule ${definition.schedule.expression} (UTC), next ` +
                `${timers.nextOccurrence(definition.functionName)?.toISOString() ?? 'not scheduled'}` +
                (definition.runOnStartup ? ', runOnStartup' : ''),
        })),
    ];
    logger.host('information', `Host started on ${url} with ${summaries.length} function(s).`);

    let closing: Promise<void> | undefined;
    return {
        url,
        port,
        functionKey,
        functions: summaries,
        close: () =>
            (closing ??= (async () => {
                await Promise.all([http.close(), serviceBus.close(), timers.close()]);
                logger.closeAppLogs();
                await runAppTerminateHooks(hookState);
                logger.host('information', 'Host stopped.');
            })()),
    };
}

export { DEFAULT_LOCAL_FUNCTION_KEY };
