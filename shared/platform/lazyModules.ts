/**
 * The heavy packages only some paths need, loaded on first use instead of when the app is imported. The Functions
 * worker requires the whole entry point before the first invocation, so every package loaded at import is paid by
 * every cold start, whichever function runs (BENCHMARKS.md, cold start). Types stay static (`import type`); only the
 * values wait, and a bundler keeps each package's initialisation behind these calls.
 */
import type * as EventGrid from '@azure/eventgrid';
import type * as Identity from '@azure/identity';
import type * as KeyVaultSecrets from '@azure/keyvault-secrets';
import type * as Msal from '@azure/msal-node';
import type JoiModule from 'joi';
import type * as Undici from 'undici';

/* eslint-disable @typescript-eslint/no-require-imports -- loading on first use is the point */

/** joi: the referral schema (compiled on first validation) and the URL settings. */
export const joi = (): typeof JoiModule => require('joi') as typeof JoiModule;
/** The Partner API client's HTTP stack (kept rather than the built-in fetch: see shared/partnerApi/client.ts). */
export const undici = (): typeof Undici => require('undici') as typeof Undici;
/** The refresh-token mode's token provider. */
export const msal = (): typeof Msal => require('@azure/msal-node') as typeof Msal;
/** The token cache in Key Vault. */
export const keyVaultSecrets = (): typeof KeyVaultSecrets =>
    require('@azure/keyvault-secrets') as typeof KeyVaultSecrets;
/** Managed identity credentials (Cosmos DB, Service Bus, Key Vault in Azure). */
export const identity = (): typeof Identity => require('@azure/identity') as typeof Identity;
/** The Event Grid publisher (outcome events). */
export const eventGrid = (): typeof EventGrid => require('@azure/eventgrid') as typeof EventGrid;
