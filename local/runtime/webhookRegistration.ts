/**
 * `npm start` registers the local host's webhook with the Partner API simulator, as an operator registers the app's
 * URL with Partner Center (`npm run partner:webhooks -- register`), through the same registration API client: the
 * four referral events, the function key in `?code=` (the function is `authLevel: 'function'`). The simulator then
 * delivers Microsoft's changes to the local app. The simulator is this runtime's own, so whatever an earlier run
 * registered there is replaced.
 */
import { NoTokenProvider } from '../../shared/partnerApi/tokenProviders';
import {
    type WebhookRegistration,
    WebhookRegistrationApi,
    webhookUrl,
} from '../../shared/partnerCenter/webhookRegistration';

/** Registers without a token (the simulator accepts none, as the app's `none` mode sends none). */
export async function registerLocalWebhook(
    simulatorUrl: string,
    hostUrl: string,
    functionKey: string,
): Promise<WebhookRegistration> {
    const api = new WebhookRegistrationApi({ baseUrl: simulatorUrl, tokens: new NoTokenProvider(), timeoutMs: 10_000 });
    const current = await api.read();
    return api.register(webhookUrl(hostUrl, functionKey), current !== undefined);
}
