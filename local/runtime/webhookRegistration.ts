/**
 * `npm start` registers the local host's webhook with the Partner API simulator, as an operator registers the app's
 * URL with Partner Center: the four referral events, the function key in `?code=` (the function is
 * `authLevel: 'function'`). The simulator then delivers Microsoft's changes to the local app.
 */
import { REFERRAL_EVENTS } from '../../shared/partnerCenter/events';

export const WEBHOOK_ROUTE = '/api/partner-center/events';

export function localWebhookUrl(hostUrl: string, functionKey: string): string {
    return `${hostUrl}${WEBHOOK_ROUTE}?code=${encodeURIComponent(functionKey)}`;
}

/** POSTs the registration (the simulator accepts it without a token, as the app's `none` mode sends none). */
export async function registerLocalWebhook(simulatorUrl: string, hostUrl: string, functionKey: string): Promise<void> {
    const response = await fetch(`${simulatorUrl}/webhooks/v1/registration`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ WebhookUrl: localWebhookUrl(hostUrl, functionKey), WebhookEvents: REFERRAL_EVENTS }),
        signal: AbortSignal.timeout(10_000),
    });
    await response.body?.cancel();
    if (!response.ok) throw new Error(`the simulator refused the webhook registration (${response.status})`);
}
