/**
 * The contract between the code and infra/: settings (shared/platform/config.ts SETTINGS), names (shared/platform/names.ts), roles,
 * the security baseline, alerts and azd wiring, read from the Bicep with tree-sitter.
 */
import { SETTINGS } from '../../shared/platform/config';
import { loadTemplate } from './bicep';
import {
    appSettings,
    checkAlerts,
    checkAll,
    checkAppSettings,
    checkDeployerAccess,
    checkEventGrid,
    checkFlexConsumption,
    checkKeyVaultReferences,
    checkKeyVaultRoles,
    checkNames,
    checkNoSecrets,
    checkParameterFile,
    checkPrivateNetworking,
    checkRoles,
    checkSampling,
    checkSecurity,
    checkTags,
    KEY_VAULT_SECRET_NAMES,
} from './checks';
import { infraSources, NAMES, readRootFile, SECRET_REFERENCES } from './helpers';

describe('infra contract', () => {
    const sources = infraSources();
    const template = loadTemplate(sources);

    it('follows every module from main.bicep', () => {
        const bicepFiles = [...sources.keys()].filter((f) => f.endsWith('.bicep')).sort();
        expect([...template.files].sort()).toEqual(bicepFiles);
    });

    it('sets every setting the app requires in Azure, and none of the local-only ones', () => {
        expect(checkAppSettings(template, SETTINGS)).toEqual([]);
        const required = SETTINGS.filter((s) => s.azure === 'required').map((s) => s.name);
        expect(required.length).toBeGreaterThan(0);
        expect([...appSettings(template).keys()]).toEqual(expect.arrayContaining(required));
    });

    it('references the Partner API secrets in Key Vault by the names the operator sets', () => {
        expect(checkKeyVaultReferences(template, SECRET_REFERENCES)).toEqual([]);
    });

    it('uses the queue, database, container and connection names of shared/platform/names.ts', () => {
        expect(checkNames(template, NAMES)).toEqual([]);
    });

    it('grants only the listed built-in roles, Service Bus roles per queue, Cosmos data role on the database', () => {
        expect(checkRoles(template)).toEqual([]);
    });

    it('scopes Key Vault roles to one secret: the app reads the client secret and writes only the token cache', () => {
        expect(checkKeyVaultRoles(template, KEY_VAULT_SECRET_NAMES)).toEqual([]);
    });

    it('gives the deploying principal no data access unless allowDeployerDataAccess', () => {
        expect(checkDeployerAccess(sources)).toEqual([]);
    });

    it('with usePrivateNetworking (off by default), reaches every data service only through a private endpoint', () => {
        expect(template.params).toContainEqual(
            expect.objectContaining({ file: 'main.bicep', name: 'usePrivateNetworking', hasDefault: true }),
        );
        expect(checkPrivateNetworking(sources)).toEqual([]);
    });

    it('meets the security baseline', () => {
        expect(checkSecurity(template)).toEqual([]);
    });

    it('sets no site property or app setting that Flex Consumption rejects', () => {
        expect(checkFlexConsumption(template)).toEqual([]);
    });

    it('alerts on dead-lettered messages, failed invocations, error events and stuck referrals', () => {
        expect(checkAlerts(template)).toEqual([]);
    });

    it('publishes outcome events to a CloudEvents topic with the identity (EventGrid Data Sender on the topic), alerting on lost deliveries', () => {
        expect(checkEventGrid(template)).toEqual([]);
        expect(appSettings(template).has('EVENT_GRID_TOPIC_KEY')).toBe(false);
    });

    it('keeps the traces the log alerts query out of sampling', () => {
        expect(checkSampling(readRootFile('host.json'))).toEqual([]);
    });

    it('reads no keys and outputs no secrets', () => {
        expect(checkNoSecrets(template)).toEqual([]);
    });

    it('tags every resource for azd, and the function app with the azure.yaml service name', () => {
        const service = /^services:\n\s+(\w[\w-]*):/m.exec(readRootFile('azure.yaml'))?.[1];
        expect(service).toBe('api');
        expect(checkTags(template, service!)).toEqual([]);
    });

    it('maps every required parameter in main.parameters.json', () => {
        expect(checkParameterFile(template, sources.get('main.parameters.json')!)).toEqual([]);
    });

    it('outputs what azd and local runs need, in UPPER_SNAKE', () => {
        const outputs = template.outputs.filter((o) => o.file === 'main.bicep').map((o) => o.name);
        expect(outputs).toEqual(
            expect.arrayContaining([
                'AZURE_LOCATION',
                'AZURE_TENANT_ID',
                'AZURE_RESOURCE_GROUP',
                'AZURE_FUNCTION_NAME',
            ]),
        );
        for (const name of outputs) expect(name).toMatch(/^[A-Z][A-Z0-9_]*$/);
    });

    it('deploys dist/deploy as a js function service', () => {
        const yaml = readRootFile('azure.yaml');
        expect(yaml).toMatch(/^\s+host: function$/m);
        expect(yaml).toMatch(/^\s+language: js$/m);
        expect(yaml).toMatch(/^\s+dist: dist\/deploy$/m);
    });

    // Every check re-parses the Bicep (tree-sitter): seconds on a loaded machine, beyond Jest's default 5 s.
    it('passes every check at once', () => {
        expect(checkAll(sources, SETTINGS, NAMES)).toEqual([]);
    }, 60_000);
});
