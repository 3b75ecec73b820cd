/**
 * Runs the hooks the app registered (`app.hook.*`), with the core context objects the Functions Node worker builds:
 * the library wraps each one in its own `AppStartContext`, `PreInvocationContext`, ... before calling the app.
 *
 * As in the worker, hooks run one after another in registration order, each awaited; a throwing hook stops the
 * chain. `hookData` is per invocation for pre/post invocation hooks; appStart and appTerminate share one object, and
 * every hook sees the same `appHookData`.
 */
import { type FunctionCallback, type HookName, registry } from './functionsCore';

export interface AppHookState {
    /** Shared by appStart and appTerminate only. */
    appLevelOnlyHookData: Record<string, unknown>;
    /** Shared by every hook of the app. */
    appHookData: Record<string, unknown>;
}

export function newAppHookState(): AppHookState {
    return { appLevelOnlyHookData: {}, appHookData: {} };
}

export async function runHooks(name: HookName, context: object): Promise<void> {
    // A copy: a hook that disposes itself while running must not make the loop skip the next one.
    for (const callback of [...registry.hooks[name]]) {
        await callback(context as Record<string, unknown>);
    }
}

function readOnly<T>(name: string, value: T): PropertyDescriptor {
    return {
        enumerable: true,
        get: () => value,
        set: () => {
            throw new TypeError(`Cannot assign to read only property "${name}".`);
        },
    };
}

export async function runAppStartHooks(state: AppHookState, functionAppDirectory: string): Promise<void> {
    const context = Object.defineProperties(
        { functionAppDirectory },
        {
            hookData: readOnly('hookData', state.appLevelOnlyHookData),
            appHookData: readOnly('appHookData', state.appHookData),
        },
    );
    await runHooks('appStart', context);
}

export async function runAppTerminateHooks(state: AppHookState): Promise<void> {
    const context = Object.defineProperties(
        {},
        {
            hookData: readOnly('hookData', state.appLevelOnlyHookData),
            appHookData: readOnly('appHookData', state.appHookData),
        },
    );
    await runHooks('appTerminate', context);
}

export interface PreInvocationCoreContext {
    readonly hookData: Record<string, unknown>;
    readonly appHookData: Record<string, unknown>;
    readonly invocationContext: unknown;
    inputs: unknown[];
    /** A preInvocation hook may replace the handler (the library exposes it as `functionHandler`). */
    functionCallback: FunctionCallback;
}

export interface PostInvocationCoreContext {
    readonly hookData: Record<string, unknown>;
    readonly appHookData: Record<string, unknown>;
    readonly invocationContext: unknown;
    inputs: unknown[];
    /** A postInvocation hook may replace the result, or clear or replace the error. */
    result: unknown;
    error: unknown;
}

export function preInvocationContext(
    state: AppHookState,
    hookData: Record<string, unknown>,
    invocationContext: unknown,
    inputs: unknown[],
    functionCallback: FunctionCallback,
): PreInvocationCoreContext {
    return Object.defineProperties(
        { inputs, functionCallback },
        {
            hookData: readOnly('hookData', hookData),
            appHookData: readOnly('appHookData', state.appHookData),
            invocationContext: readOnly('invocationContext', invocationContext),
        },
    ) as PreInvocationCoreContext;
}

export function postInvocationContext(
    state: AppHookState,
    hookData: Record<string, unknown>,
    invocationContext: unknown,
    inputs: unknown[],
): PostInvocationCoreContext {
    return Object.defineProperties(
        { inputs, result: null, error: null },
        {
            hookData: readOnly('hookData', hookData),
            appHookData: readOnly('appHookData', state.appHookData),
            invocationContext: readOnly('invocationContext', invocationContext),
        },
    ) as PostInvocationCoreContext;
}
