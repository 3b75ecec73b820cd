import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { LOG_EVENTS } from '../../shared/platform/logging';

/** The Alerts section of docs/operations.md: its table of events and its log search queries. */
function alertsSection(): string {
    const operations = readFileSync(join(__dirname, '../../docs/operations.md'), 'utf8');
    const start = operations.indexOf('\n## Alerts');
    expect(start).toBeGreaterThan(0);
    const end = operations.indexOf('\n## ', start + 1);
    return operations.slice(start, end < 0 ? undefined : end);
}

describe('the catalogue of log events', () => {
    it('lists each event once', () => {
        expect(new Set(LOG_EVENTS).size).toBe(LOG_EVENTS.length);
        for (const name of LOG_EVENTS) expect(name).toMatch(/^[a-z][A-Za-z]*(\.[a-z][A-Za-z]*)+$/);
    });

    it('holds every event that docs/operations.md and the Bicep log alerts name', () => {
        const alerts = alertsSection();
        // The first column of the events table in the docs, and the names in the alert queries' `event in (...)`.
        const tabled = [...alerts.matchAll(/^\| (`[^|]+`)\s*\|/gm)].flatMap(([, cell]) =>
            [...cell!.matchAll(/`([^`]+)`/g)].map(([, name]) => name!),
        );
        const bicep = readFileSync(join(__dirname, '../../infra/app/alerts.bicep'), 'utf8');
        const queried = [...bicep.matchAll(/event in \(([^)]*)\)/g)].flatMap(([, list]) =>
            [...list!.matchAll(/"([^"]+)"/g)].map(([, name]) => name!),
        );
        expect(tabled.length).toBeGreaterThanOrEqual(5);
        expect(queried.length).toBeGreaterThanOrEqual(6);
        const catalogue = new Set<string>(LOG_EVENTS);
        expect([...tabled, ...queried].filter((name) => !catalogue.has(name))).toEqual([]);
    });
});
