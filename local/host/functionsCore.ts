/**
 * A stand-in for `@azure/functions-core`, the module the Azure Functions Node worker injects at run time.
 *
 * `@azure/functions` registers every `app.http(...)`, `app.serviceBusQueue(...)` and `app.hook.*(...)` call through
 * this module. Outside the worker the package falls back to "test mode" and registers nothing, so the local host and
 * the tests provide this stand-in instead: it records the registrations exactly as the worker would receive them.
 *
 * The module exports plain functions (the library calls them on the module object) and a `registry` to read back.
 * It refuses what the worker refuses: hooks other than the four the worker runs (the library also offers a preview
 * `log` hook, which the worker rejects), and function registrations once the app has started.
 */
import Module from 'node:module';

export type HookName = 'appStart' | 'appTerminate' | 'preInvocation' | 'postInvocation';

export interface CoreBinding {
    type: string;
    direction: 'in' | 'out';
    [setting: string]: unknown;
}

export interface CoreFunctionMetadata {
    name: string;
    bindings: Record<string, CoreBinding>;
    retryOptions?: unknown;
}

export type FunctionCallback = (...args: unknown[]) => unknown;
export type HookCallback = (context: Record<string, unknown>) => unknown;

export interface RegisteredFunction {
    metadata: CoreFunctionMetadata;
    handler: FunctionCallback;
}

export interface Disposable {
    dispose(): void;
}

export interface FunctionsCoreRegistry {
    functions: Map<string, RegisteredFunction>;
    hooks: Record<HookName, HookCallback[]>;
    programmingModel: unknown;
    /** Set once the app has started: the worker locks function indexing then. */
    registrationsClosed: boolean;
}

export const registry: FunctionsCoreRegistry = {
    functions: new Map(),
    hooks: { appStart: [], appTerminate: [], preInvocation: [], postInvocation: [] },
    programmingModel: undefined,
    registrationsClosed: false,
};

export const version = 'local-stand-in';

export function setProgrammingModel(model: unknown): void {
    registry.programmingModel = model;
}

export function getProgrammingModel(): unknown {
    return registry.programmingModel;
}

export function registerFunction(metadata: CoreFunctionMetadata, handler: FunctionCallback): Disposable {
    if (registry.registrationsClosed) {
        throw new Error(`A function can only be registered during app startup ("${metadata.name}").`);
    }
    if (registry.functions.has(metadata.name)) {
        throw new Error(`A function named "${metadata.name}" is already registered.`);
    }
    registry.functions.set(metadata.name, { metadata, handler });
    return { dispose: () => registry.functions.delete(metadata.name) };
}

const HOOK_NAMES = Object.keys(registry.hooks).join(', ');

/** The app has started (appStart hooks ran): from now on, registering a function throws, as in the worker. */
export function closeRegistrations(): void {
    registry.registrationsClosed = true;
}

export function registerHook(hookName: string, callback: HookCallback): Disposable {
    const hooks = Object.hasOwn(registry.hooks, hookName) ? registry.hooks[hookName as HookName] : undefined;
    if (!hooks) {
        throw new RangeError(`Unrecognized hook "${hookName}": the Functions Node worker runs only ${HOOK_NAMES}.`);
    }
    hooks.push(callback);
    return {
        dispose: () => {
            const index = hooks.indexOf(callback);
            if (index >= 0) hooks.splice(index, 1);
        },
    };
}

/** System log lines from the library (warnings about configuration, for example). */
export function log(level: string, category: string, message: string): void {
    if (level === 'error' || level === 'warning') {
        process.stderr.write(`[functions-core:${level}] ${category}: ${message}\n`);
    }
}

/** Forget every registration: lets one process load the app more than once (tests). */
export function resetRegistry(): void {
    registry.functions.clear();
    for (const hooks of Object.values(registry.hooks)) hooks.length = 0;
    registry.programmingModel = undefined;
    registry.registrationsClosed = false;
}

/**
 * Makes `require('@azure/functions-core')` resolve to this module in plain Node (the local host, the bundle check).
 * Jest maps the module name in its own configuration instead.
 */
export function installFunctionsCore(): void {
    type Load = (request: string, parent: unknown, isMain: boolean) => unknown;
    const moduleWithLoad = Module as unknown as { _load: Load };
    const originalLoad = moduleWithLoad._load;
    if ((originalLoad as { standIn?: boolean }).standIn) return;
    // The module's own functions, listed rather than `require(__filename)`: in a bundle (esbuild) __filename is the
    // bundle, not this module.
    const self = {
        registry,
        version,
        setProgrammingModel,
        getProgrammingModel,
        registerFunction,
        registerHook,
        closeRegistrations,
        log,
        resetRegistry,
        installFunctionsCore,
    };
    const patched: Load = (request, parent, isMain) =>
        request === '@azure/functions-core' ? self : originalLoad(request, parent, isMain);
    (patched as { standIn?: boolean }).standIn = true;
    moduleWithLoad._load = patched;
}
