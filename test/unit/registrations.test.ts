import { registry } from '../../local/host/functionsCore';

/**
 * The registrations as the Functions worker receives them, captured by the same `@azure/functions-core` stand-in
 * the local host uses (jest maps the module name to it).
 */
describe('function registrations', () => {
    beforeAll(() => {
        // Loaded here, not imported at the top: registration happens as a side effect of loading the entry point.
        require('../../index');
    });

    function bindingsOf(name: string) {
        const registered = registry.functions.get(name);
        expect(registered).toBeDefined();
        return Object.values(registered!.metadata.bindings);
    }

    it('registers POST /api/referrals with function-level auth', () => {
        const trigger = bindingsOf('createReferral').find((b) => b.type === 'httpTrigger');
        expect(trigger).toMatchObject({
            route: 'referrals',
            methods: ['POST'],
            authLevel: 'function',
            direction: 'in',
        });
    });

    it('registers GET /api/referrals/{id} with function-level auth', () => {
        const trigger = bindingsOf('getReferralStatus').find((b) => b.type === 'httpTrigger');
        expect(trigger).toMatchObject({ route: 'referrals/{id}', methods: ['GET'], authLevel: 'function' });
    });

    it("registers POST /api/partner-center/events (Partner Center's webhook) with function-level auth", () => {
        const trigger = bindingsOf('receivePartnerCenterEvent').find((b) => b.type === 'httpTrigger');
        expect(trigger).toMatchObject({ route: 'partner-center/events', methods: ['POST'], authLevel: 'function' });
    });

    it.each([
        ['submitReferral', 'referrals'],
        ['connectReferral', 'referral-connections'],
        ['syncPartnerCenterEvent', 'partner-center-events'],
    ])('registers %s on queue %s through the ServiceBusConnection settings', (name, queueName) => {
        const trigger = bindingsOf(name).find((b) => b.type === 'serviceBusTrigger');
        expect(trigger).toMatchObject({ queueName, connection: 'ServiceBusConnection', direction: 'in' });
    });

    it('sets authLevel explicitly on every HTTP function (the library default would be anonymous)', () => {
        // The one exception: the public OpenAPI document, anonymous on purpose and set explicitly.
        const anonymous = new Set(['getOpenApi']);
        for (const [name, { metadata }] of registry.functions) {
            for (const binding of Object.values(metadata.bindings)) {
                if (binding.type !== 'httpTrigger') continue;
                const expected = anonymous.has(name) ? 'anonymous' : 'function';
                expect({ name, authLevel: binding.authLevel }).toEqual({ name, authLevel: expected });
            }
        }
    });

    it('registers GET /api/openapi.json as anonymous (public documentation)', () => {
        const trigger = bindingsOf('getOpenApi').find((b) => b.type === 'httpTrigger');
        expect(trigger).toMatchObject({ route: 'openapi.json', methods: ['GET'], authLevel: 'anonymous' });
    });

    it('registers the outbox sweep as a timer on INTAKE_SWEEP_SCHEDULE, every minute by default', () => {
        const trigger = bindingsOf('resendQueuedReferrals').find((b) => b.type === 'timerTrigger');
        expect(trigger).toMatchObject({ schedule: '0 */1 * * * *', direction: 'in' });
    });

    it('registers the reconciliation as a timer on PARTNER_CENTER_RECONCILE_SCHEDULE, every 15 minutes by default', () => {
        const trigger = bindingsOf('reconcilePartnerCenter').find((b) => b.type === 'timerTrigger');
        expect(trigger).toMatchObject({ schedule: '0 */15 * * * *', direction: 'in' });
    });

    it('registers the sweep of unpublished outcome events as a timer on EVENT_SWEEP_SCHEDULE, every minute at :30', () => {
        const trigger = bindingsOf('publishPendingEvents').find((b) => b.type === 'timerTrigger');
        expect(trigger).toMatchObject({ schedule: '30 */1 * * * *', direction: 'in' });
    });

    it('registers an appTerminate hook that closes the clients', () => {
        expect(registry.hooks.appTerminate.length).toBeGreaterThan(0);
    });
});
