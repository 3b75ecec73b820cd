/**
 * npm run partner:consent -- [status | --print] [--vault <https://<vault>.vault.azure.net/>]
 *
 *   (no command)  device code sign-in (with MFA) as the Partner Center service account, then store the refresh token
 *                 in Key Vault (partner-api-refresh-token) and a fresh token cache (partner-api-token-cache)
 *   --print       sign in and print the refresh token for local use (PARTNER_API_REFRESH_TOKEN); stores nothing
 *   status        when the token was last refreshed and when it expires if unused (reads secret tags only)
 *
 * Settings: PARTNER_API_TENANT_ID, PARTNER_API_CLIENT_ID, optional PARTNER_API_AUTHORITY_HOST; the vault from --vault
 * or PARTNER_API_TOKEN_CACHE_VAULT_URL (signed in with `az login`: Key Vault Secrets Officer needed); the client
 * secret from PARTNER_API_CLIENT_SECRET / PARTNER_API_CLIENT_CERTIFICATE, else the vault's partner-api-client-secret.
 * See docs/operations.md ("Consent").
 */
import { SecretClient } from '@azure/keyvault-secrets';

import { exitOnHelp } from '../scripts/usage';
import { readTokenHealth, signInWithDeviceCode, storeConsent } from '../shared/operations/consent';
import type { TokenHealth } from '../shared/operations/tokenHealth';
import { createAzureCredential } from '../shared/platform/credential';

const USAGE = [
    'Usage: npm run partner:consent -- [--vault <vault-url>] [--print] | status [--vault <vault-url>]',
    '  Signs in with the device code flow and stores the Partner API refresh token in Key Vault (--print shows it instead).',
    "  status: reports the stored token's health. Vault default: PARTNER_API_TOKEN_CACHE_VAULT_URL.",
    '  Needs PARTNER_API_TENANT_ID and PARTNER_API_CLIENT_ID.',
].join('\n');

const CLIENT_SECRET_NAME = 'partner-api-client-secret';

function required(name: string): string {
    const value = process.env[name]?.trim();
    if (!value) throw new Error(`Set ${name} (see docs/partner-api-auth.md).`);
    return value;
}

function option(argv: string[], name: string): string | undefined {
    const index = argv.indexOf(name);
    return index >= 0 ? argv[index + 1] : undefined;
}

export function describeHealth(health: TokenHealth): string[] {
    if (health.state === 'unknown')
        return ['Token cache: none stored yet (the app redeems PARTNER_API_REFRESH_TOKEN).'];
    return [
        `Token state:            ${health.state}`,
        `Last refreshed:         ${health.lastRefreshedAt}`,
        `Expires if unused at:   ${health.refreshTokenExpiresAt} (${health.daysLeft} days left)`,
        `Token cache version:    ${health.secretVersion ?? '?'}`,
        ...(health.state === 'healthy' ? [] : ['Run `npm run partner:consent` again before it expires.']),
    ];
}

async function main(argv: string[]): Promise<number> {
    const authorityHost = process.env.PARTNER_API_AUTHORITY_HOST?.trim() || 'https://login.microsoftonline.com';
    const vaultUrl = option(argv, '--vault') ?? process.env.PARTNER_API_TOKEN_CACHE_VAULT_URL?.trim();
    const secrets = vaultUrl ? new SecretClient(vaultUrl, createAzureCredential()) : undefined;

    if (argv.includes('status')) {
        if (!secrets) throw new Error('Give the vault: --vault https://<vault>.vault.azure.net/');
        for (const line of describeHealth(await readTokenHealth(secrets))) console.log(line);
        return 0;
    }

    const print = argv.includes('--print');
    if (!print && !secrets)
        throw new Error('Give the vault (--vault https://<vault>.vault.azure.net/), or use --print.');
    const tenantId = required('PARTNER_API_TENANT_ID');
    const clientId = required('PARTNER_API_CLIENT_ID');
    console.log('Sign in as the Partner Center service account (Referrals Admin), with MFA:');
    const { refreshToken, user } = await signInWithDeviceCode({
        tenantId,
        clientId,
        authorityHost,
        onDeviceCode: (message) => console.log(`\n  ${message}\n`),
    });
    console.log(`Signed in${user ? ` as ${user}` : ''}.`);

    if (print) {
        console.log('\nFor local use only. Put this in local.settings.json (Values) or your shell, never in a ticket:');
        console.log(`PARTNER_API_REFRESH_TOKEN=${refreshToken}`);
        return 0;
    }
    const clientSecret =
        process.env.PARTNER_API_CLIENT_SECRET?.trim() ||
        (process.env.PARTNER_API_CLIENT_CERTIFICATE ? undefined : (await secrets!.getSecret(CLIENT_SECRET_NAME)).value);
    const health = await storeConsent({
        refreshToken,
        tenantId,
        clientId,
        clientSecret,
        clientCertificatePem: process.env.PARTNER_API_CLIENT_CERTIFICATE,
        authorityHost,
        secrets: secrets!,
    });
    console.log(`Stored in ${vaultUrl}: partner-api-refresh-token and a fresh partner-api-token-cache.`);
    for (const line of describeHealth(health)) console.log(line);
    console.log('Running instances adopt it within 5 minutes; restart the function app to make it immediate.');
    return 0;
}

if (require.main === module) {
    exitOnHelp(USAGE);
    main(process.argv.slice(2)).then(
        (code) => (process.exitCode = code),
        (error: unknown) => {
            console.error(error instanceof Error ? error.message : error);
            process.exitCode = 1;
        },
    );
}
