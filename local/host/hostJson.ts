/**
 * The parts of host.json the local host honours: Service Bus concurrency and lock renewal, the HTTP route prefix,
 * and the default log level.
 */
import { readFileSync } from 'node:fs';

import { type HostLogLevel } from './hostLog';

export interface HostJson {
    logging?: { logLevel?: Record<string, string> };
    extensions?: {
        http?: { routePrefix?: string };
        serviceBus?: {
            maxConcurrentCalls?: number;
            maxAutoLockRenewalDuration?: string;
            prefetchCount?: number;
            autoCompleteMessages?: boolean;
        };
    };
    [key: string]: unknown;
}

export interface HostSettings {
    routePrefix: string;
    serviceBus: { maxConcurrentCalls: number; maxAutoLockRenewalDurationInMs: number; autoCompleteMessages: boolean };
    logLevel: HostLogLevel;
}

/** Defaults of the Functions host when host.json says nothing (Service Bus extension 5.x). */
const DEFAULT_MAX_CONCURRENT_CALLS = 16;
const DEFAULT_LOCK_RENEWAL_MS = 5 * 60 * 1000;

/** Parses a .NET TimeSpan as host.json writes it: `[d.]hh:mm:ss[.fff]`. */
export function parseTimeSpanMs(text: string): number {
    const match = /^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))?$/.exec(text.trim());
    if (!match) throw new Error(`Not a TimeSpan (expected [d.]hh:mm:ss[.fff]): "${text}"`);
    const [, days = '0', hours = '0', minutes = '0', seconds = '0', fraction = '0'] = match;
    const ms = Number(`0.${fraction}`) * 1000;
    return Math.round(
        ((Number(days) * 24 + Number(hours)) * 60 + Number(minutes)) * 60000 + Number(seconds) * 1000 + ms,
    );
}

const LOG_LEVELS: Record<string, HostLogLevel> = {
    trace: 'trace',
    debug: 'debug',
    information: 'information',
    warning: 'warning',
    error: 'error',
    critical: 'critical',
    none: 'none',
};

export function readHostJson(path: string): HostJson {
    return JSON.parse(readFileSync(path, 'utf8')) as HostJson;
}

export function toHostSettings(hostJson: HostJson = {}): HostSettings {
    const serviceBus = hostJson.extensions?.serviceBus ?? {};
    const maxConcurrentCalls = serviceBus.maxConcurrentCalls ?? DEFAULT_MAX_CONCURRENT_CALLS;
    if (!Number.isInteger(maxConcurrentCalls) || maxConcurrentCalls < 1) {
        throw new Error('host.json extensions.serviceBus.maxConcurrentCalls must be a positive integer');
    }
    const renewal = serviceBus.maxAutoLockRenewalDuration;
    const routePrefix = hostJson.extensions?.http?.routePrefix ?? 'api';
    const level = hostJson.logging?.logLevel?.default?.toLowerCase() ?? 'information';
    return {
        routePrefix: routePrefix.replace(/^\/+|\/+$/g, ''),
        serviceBus: {
            maxConcurrentCalls,
            maxAutoLockRenewalDurationInMs: renewal === undefined ? DEFAULT_LOCK_RENEWAL_MS : parseTimeSpanMs(renewal),
            autoCompleteMessages: serviceBus.autoCompleteMessages ?? true,
        },
        logLevel: LOG_LEVELS[level] ?? 'information',
    };
}
